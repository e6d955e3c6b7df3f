# Liên Thông access decisions: which fields of which subject an agency may see, for a purpose.
#
# Input (one decision per subject, all requested fields at once):
#   agency, roles[], citizen_id, purpose, type ("Resident", "Enterprise", "Parcel", …),
#   subject, fields[], via (null at the root, else the relation it was reached through, e.g.
#   "Enterprise.legalRepresentatives"), now (RFC 3339),
#   agreements[] (the agency's data-sharing agreements), consents[] (the subject's consents).
# Output: decision = {allow, fields: {name: "allow"|"deny"|"mask"}, reasons: {name: why},
#   legal_basis[], obligations: {mask: {name: kind}}}.
# Deny by default: a field no applicable agreement names is denied.
package lienthong.authz

import rego.v1

now_ns := time.parse_rfc3339_ns(input.now)

in_force(item, from_key, to_key) if {
	time.parse_rfc3339_ns(item[from_key]) <= now_ns
	not ended(item, to_key)
}

ended(item, to_key) if {
	item[to_key] != null
	time.parse_rfc3339_ns(item[to_key]) <= now_ns
}

# An agreement applies to this request: same agency, purpose and type, approved, in force,
# and — when it names relations — reached through one of them.
applies(agreement) if {
	agreement.agency == input.agency
	agreement.purpose == input.purpose
	agreement.type == input.type
	agreement.status == "approved"
	in_force(agreement, "valid_from", "valid_to")
	via_allowed(agreement)
}

via_allowed(agreement) if agreement.via == null

via_allowed(agreement) if {
	agreement.via != null
	input.via in agreement.via
}

applicable contains agreement if {
	some agreement in input.agreements
	applies(agreement)
}

# A live consent of the subject for this agency and purpose, and the fields it covers.
consented_fields contains field if {
	some consent in input.consents
	consent.subject == input.subject
	consent.agency == input.agency
	consent.purpose == input.purpose
	consent.revoked_at == null
	in_force(consent, "granted_at", "expires_at")
	some field in consent.fields
}

# Fields an applicable agreement gives: directly, or with the subject's consent where required.
granted(agreement, field) if {
	field in agreement.fields
	not agreement.consent_required
}

granted(agreement, field) if {
	agreement.consent_required
	field in agreement.fields
	field in consented_fields
}

given contains field if {
	some field in input.fields
	some agreement in applicable
	granted(agreement, field)
}

mask_kind(field) := kind if {
	some agreement in applicable
	granted(agreement, field)
	kind := agreement.masking[field]
}

# Unmasked wins when any applicable agreement gives the field in clear.
clear(field) if {
	some agreement in applicable
	granted(agreement, field)
	not agreement.masking[field]
}

citizen_self if {
	"citizen" in input.roles
	input.citizen_id != null
	input.type == "Resident"
	input.subject == input.citizen_id
}

field_outcome(field) := "allow" if citizen_self

field_outcome(field) := "allow" if {
	not citizen_self
	field in given
	clear(field)
}

field_outcome(field) := "mask" if {
	not citizen_self
	field in given
	not clear(field)
}

field_outcome(field) := "deny" if {
	not citizen_self
	not field in given
}

deny_reason(field) := "no approved agreement in force for this agency, purpose and type" if {
	count(applicable) == 0
}

deny_reason(field) := "consent required and none in force for this field" if {
	count(applicable) > 0
	some agreement in applicable
	agreement.consent_required
	field in agreement.fields
	not field in consented_fields
}

deny_reason(field) := "field outside the agreement" if {
	count(applicable) > 0
	not listed(field)
}

listed(field) if {
	some agreement in applicable
	field in agreement.fields
}

fields := {field: field_outcome(field) | some field in input.fields}

reasons := {field: deny_reason(field) | some field in input.fields; fields[field] == "deny"}

legal_basis := ["data subject's own record"] if citizen_self

legal_basis := sort({agreement.legal_basis |
	some agreement in applicable
	some field in given
	granted(agreement, field)
}) if not citizen_self

masks := {field: mask_kind(field) | some field in input.fields; fields[field] == "mask"}

default allow := false

allow if {
	some field in input.fields
	fields[field] != "deny"
}

decision := {
	"allow": allow,
	"fields": fields,
	"reasons": reasons,
	"legal_basis": legal_basis,
	"obligations": {"mask": masks},
}

# For stewards: why each of the agency's agreements did or did not apply to this request.
applies_flag(agreement) := true if applies(agreement)

applies_flag(agreement) := false if not applies(agreement)

considered := [entry |
	some agreement in input.agreements
	entry := {
		"agreement_id": object.get(agreement, "agreement_id", ""),
		"applies": applies_flag(agreement),
		"purpose_matches": agreement.purpose == input.purpose,
		"type_matches": agreement.type == input.type,
		"status": agreement.status,
		"via": agreement.via,
		"consent_required": agreement.consent_required,
		"fields": agreement.fields,
	}
]
