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

applicable := [agreement |
	some agreement in input.agreements
	applies(agreement)
]

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

requested := {field | some field in input.fields}

# Per applicable agreement, computed once: the fields it lists, those of the request it gives
# (where it requires consent, only those the subject consented to) and those it masks. Every
# outcome below is set algebra over these: regorus pays per rule body, per call and per element.
grants := [{"agreement": agreement, "listed": listed, "given": given_here, "masked": masked_here} |
	some agreement in applicable
	listed := {field | some field in agreement.fields}
	given_here := gives(agreement, requested & listed)
	masked_here := given_here & {field | some field, _ in object.get(agreement, "masking", {})}
]

gives(agreement, fields) := fields if not agreement.consent_required

gives(agreement, fields) := fields & consented_fields if agreement.consent_required

given := union({grant.given | some grant in grants})

# A field some agreement gives in clear is given in clear (unmasked wins over masked).
clear_fields := union({clear |
	some grant in grants
	clear := grant.given - grant.masked
})

# A citizen may read their own record and who accessed it (their access log).
citizen_self if {
	"citizen" in input.roles
	input.citizen_id != null
	input.type in {"Resident", "AccessLog"}
	input.subject == input.citizen_id
}

allowed := requested if citizen_self

allowed := clear_fields if not citizen_self

masked := set() if citizen_self

masked := given - clear_fields if not citizen_self

denied := (requested - allowed) - masked

no_agreement_reason := "no approved agreement in force for this agency, purpose and type"

consent_reason := "consent required and none in force for this field"

outside_reason := "field outside the agreement"

# Denied fields grouped by the reason they are denied.
denials := {no_agreement_reason: denied} if count(applicable) == 0

denials := {
	consent_reason: denied & union({grant.listed | some grant in grants; grant.agreement.consent_required}),
	outside_reason: denied - union({grant.listed | some grant in grants}),
} if count(applicable) > 0

legal_basis := ["data subject's own record"] if citizen_self

legal_basis := sort({grant.agreement.legal_basis |
	some grant in grants
	count(grant.given) > 0
}) if not citizen_self

masks := {field: kind |
	some grant in grants
	some field in grant.masked & masked
	kind := grant.agreement.masking[field]
}

allow := count(allowed) + count(masked) > 0

# The outcome as sets, which the embedded adapter shapes into a decision itself (cheaper than
# building per-field objects in the engine); `decision` below is the same, shaped in Rego.
verdict := {
	"allow": allow,
	"allowed": allowed,
	"masked": masked,
	"denials": denials,
	"legal_basis": legal_basis,
	"masks": masks,
}

decision := {
	"allow": allow,
	"fields": object.union(
		object.union({field: "allow" | some field in allowed}, {field: "mask" | some field in masked}),
		{field: "deny" | some field in denied},
	),
	"reasons": {field: reason | some reason, fields in denials; some field in fields},
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
