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

# Fields the applicable agreements give: directly, or with the subject's consent where the
# agreement requires it. Sets computed once per decision; outcomes are then set algebra.
granted_fields contains field if {
	some agreement in applicable
	not agreement.consent_required
	some field in agreement.fields
}

granted_fields contains field if {
	some agreement in applicable
	agreement.consent_required
	some field in agreement.fields
	consented_fields[field]
}

requested := {field | some field in input.fields}

given := requested & granted_fields

# Fields some applicable agreement gives in clear (unmasked wins over masked).
clear_fields contains field if {
	some agreement in applicable
	not agreement.consent_required
	some field in agreement.fields
	not agreement.masking[field]
}

clear_fields contains field if {
	some agreement in applicable
	agreement.consent_required
	some field in agreement.fields
	consented_fields[field]
	not agreement.masking[field]
}

# A citizen may read their own record and who accessed it (their access log).
citizen_self if {
	"citizen" in input.roles
	input.citizen_id != null
	input.type in {"Resident", "AccessLog"}
	input.subject == input.citizen_id
}

allowed := requested if citizen_self

allowed := given & clear_fields if not citizen_self

masked := set() if citizen_self

masked := given - clear_fields if not citizen_self

denied := (requested - allowed) - masked

fields := object.union(
	object.union({field: "allow" | some field in allowed}, {field: "mask" | some field in masked}),
	{field: "deny" | some field in denied},
)

listed_fields contains field if {
	some agreement in applicable
	some field in agreement.fields
}

consent_fields_needed contains field if {
	some agreement in applicable
	agreement.consent_required
	some field in agreement.fields
}

no_agreement_reason := "no approved agreement in force for this agency, purpose and type"

consent_reason := "consent required and none in force for this field"

outside_reason := "field outside the agreement"

# Reasons as set algebra rather than a function per field: regorus pays per call.
reasons := {field: no_agreement_reason | some field in denied} if count(applicable) == 0

reasons := object.union(
	{field: consent_reason | some field in denied & consent_fields_needed},
	{field: outside_reason | some field in denied - listed_fields},
) if count(applicable) > 0

legal_basis := ["data subject's own record"] if citizen_self

legal_basis := sort({agreement.legal_basis |
	some agreement in applicable
	some field in agreement.fields
	field in given
}) if not citizen_self

masks := {field: kind |
	some field in masked
	some agreement in applicable
	kind := agreement.masking[field]
}

allow := count(allowed) + count(masked) > 0

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
