# Liên Thông access decisions: which fields of which subject an agency may see, for a purpose.
#
# Input (one decision per subject, all requested fields at once):
#   agency, roles[], citizen_id, purpose, type ("Resident", "Enterprise", "Parcel", …),
#   subject, fields[], via (null at the root, else the relation it was reached through, e.g.
#   "Enterprise.legalRepresentatives"), now (RFC 3339),
#   agreements[] (the agency's data-sharing agreements), consents[] (the subject's consents),
#   dossier (a case-bound request's dossier: the keys of this type it concerns; absent or null
#   for a request that names no dossier).
# Output: decision = {allow, fields: {name: "allow"|"deny"|"mask"}, reasons: {name: why},
#   legal_basis[], obligations: {mask: {name: kind}}}.
# Many subjects decided alike (one level of an answer: the same request but for the subject and
# its consents) in one evaluation: the same input with subjects[] = [{subject, consents[]}] in
# place of subject and consents; verdicts is then one verdict per subject, in order.
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

requested := {field | some field in input.fields}

# What each applicable agreement offers this request, computed once for every subject decided
# with it: the fields it lists, those of the request it lists, and those of them it masks. A
# subject's outcome below is set algebra over these and its own consents: regorus pays per rule
# body, per call and per element.
offers := [{"agreement": agreement, "listed": listed, "offered": offered, "masking": masking} |
	some agreement in applicable
	listed := {field | some field in agreement.fields}
	offered := requested & listed
	masking := offered & {field | some field, _ in object.get(agreement, "masking", {})}
]

listed_anywhere := union({offer.listed | some offer in offers})

listed_with_consent := union({offer.listed | some offer in offers; offer.agreement.consent_required})

# The fields `subject`'s live consents (among `consents`) cover for this agency and purpose.
consented(subject, consents) := {field |
	some consent in consents
	consent.subject == subject
	consent.agency == input.agency
	consent.purpose == input.purpose
	consent.revoked_at == null
	in_force(consent, "granted_at", "expires_at")
	some field in consent.fields
}

# Where an agreement requires consent, it gives only the fields the subject consented to.
gives(offer, _) := offer.offered if not offer.agreement.consent_required

gives(offer, consented_fields) := offer.offered & consented_fields if offer.agreement.consent_required

# A citizen may read their own record and who accessed it (their access log).
citizen_self(subject) if {
	"citizen" in input.roles
	input.citizen_id != null
	input.type in {"Resident", "AccessLog"}
	subject == input.citizen_id
}

is_self(subject) := true if citizen_self(subject)

is_self(subject) := false if not citizen_self(subject)

allowed_of(true, _) := requested

allowed_of(false, clear) := clear

masked_of(true, _, _) := set()

# A field some agreement gives in clear is given in clear (unmasked wins over masked).
masked_of(false, given, clear) := given - clear

no_agreement_reason := "no approved agreement in force for this agency, purpose and type"

consent_reason := "consent required and none in force for this field"

outside_reason := "field outside the agreement"

# Denied fields grouped by the reason they are denied.
denials_of(denied) := {no_agreement_reason: denied} if count(applicable) == 0

denials_of(denied) := {
	consent_reason: denied & listed_with_consent,
	outside_reason: denied - listed_anywhere,
} if count(applicable) > 0

legal_basis_of(true, _) := ["data subject's own record"]

legal_basis_of(false, grants) := sort({grant.agreement.legal_basis |
	some grant in grants
	count(grant.given) > 0
})

# One subject's outcome as sets: allowed, masked (with their mask kinds), denied by reason.
outcome(subject, consents) := result if {
	consented_fields := consented(subject, consents)
	grants := [grant |
		some offer in offers
		given_here := gives(offer, consented_fields)
		grant := {"agreement": offer.agreement, "given": given_here, "masked": given_here & offer.masking}
	]
	given := union({grant.given | some grant in grants})
	clear := union({clear_here |
		some grant in grants
		clear_here := grant.given - grant.masked
	})
	self := is_self(subject)
	allowed := allowed_of(self, clear)
	masked := masked_of(self, given, clear)
	result := {
		"allow": count(allowed) + count(masked) > 0,
		"allowed": allowed,
		"masked": masked,
		"denials": denials_of((requested - allowed) - masked),
		"legal_basis": legal_basis_of(self, grants),
		"masks": {field: kind |
			some grant in grants
			some field in grant.masked & masked
			kind := grant.agreement.masking[field]
		},
	}
}

# A request that names a dossier reaches by key (at the root) only the subjects its dossier
# concerns; what agreements reach from them through relations is decided as usual. Any other
# subject is refused whole, before anything is read, exactly as one no agreement covers.
dossier_keys := {key | some key in input.dossier} if is_array(input.dossier)

outside_dossier(subject) if {
	is_array(input.dossier)
	input.via == null
	not dossier_keys[subject]
}

dossier_reason := "outside the dossier this request serves"

refused := {
	"allow": false,
	"allowed": set(),
	"masked": set(),
	"denials": {dossier_reason: requested},
	"legal_basis": [],
	"masks": {},
}

# The outcome as sets, which the embedded adapter shapes into a decision itself (cheaper than
# building per-field objects in the engine); `decision` below is the same, shaped in Rego.
verdict := refused if outside_dossier(input.subject)

verdict := outcome(input.subject, input.consents) if not outside_dossier(input.subject)

# The verdicts of many subjects decided alike (see the input above), in their order.
verdicts := [verdict_of(entry) | some entry in input.subjects]

# `outcome` reads the subject only through its consents and whether it is the citizen asking:
# every subject with no consent who is not the citizen gets the same outcome, computed once.
shared := outcome(null, [])

verdict_of(entry) := refused if outside_dossier(entry.subject)

verdict_of(entry) := shared if {
	not outside_dossier(entry.subject)
	count(entry.consents) == 0
	not citizen_self(entry.subject)
}

verdict_of(entry) := outcome(entry.subject, entry.consents) if {
	not outside_dossier(entry.subject)
	count(entry.consents) > 0
}

verdict_of(entry) := outcome(entry.subject, entry.consents) if {
	not outside_dossier(entry.subject)
	count(entry.consents) == 0
	citizen_self(entry.subject)
}

denied := (requested - verdict.allowed) - verdict.masked

decision := {
	"allow": verdict.allow,
	"fields": object.union(
		object.union({field: "allow" | some field in verdict.allowed}, {field: "mask" | some field in verdict.masked}),
		{field: "deny" | some field in denied},
	),
	"reasons": {field: reason | some reason, fields in verdict.denials; some field in fields},
	"legal_basis": verdict.legal_basis,
	"obligations": {"mask": verdict.masks},
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
