package lienthong.authz_test

import rego.v1

import data.lienthong.authz

now := "2026-11-22T10:00:00Z"

agreement := {
	"agency": "motcua-danang", "purpose": "CT01", "type": "Resident",
	"fields": ["fullName", "birthDate", "id"], "status": "approved",
	"valid_from": "2025-07-01T00:00:00Z", "valid_to": null, "consent_required": false,
	"masking": {"id": "last4"}, "legal_basis": "Luật Cư trú 2020", "via": null,
}

loan := object.union(agreement, {
	"agency": "nganhang-abc", "purpose": "TD-VAY", "consent_required": true,
	"masking": {}, "legal_basis": "consent",
})

consent := {
	"subject": "048085000123", "agency": "nganhang-abc", "purpose": "TD-VAY",
	"fields": ["fullName"], "granted_at": "2026-11-01T00:00:00Z",
	"expires_at": "2027-11-01T00:00:00Z", "revoked_at": null,
}

base := {
	"agency": "motcua-danang", "roles": ["agency"], "citizen_id": null, "purpose": "CT01",
	"type": "Resident", "subject": "048085000123", "fields": ["fullName"], "via": null,
	"now": now, "agreements": [agreement], "consents": [],
}

test_agreed_field_allowed if {
	authz.decision.fields == {"fullName": "allow"} with input as base
}

test_field_outside_agreement_denied if {
	d := authz.decision with input as object.union(base, {"fields": ["religion"]})
	d.fields.religion == "deny"
	d.reasons.religion == "field outside the agreement"
	not d.allow
}

test_masked_field_carries_its_mask if {
	d := authz.decision with input as object.union(base, {"fields": ["id"]})
	d.fields.id == "mask"
	d.obligations.mask.id == "last4"
}

test_other_agency_denied if {
	d := authz.decision with input as object.union(base, {"agency": "thue-hcm"})
	d.fields.fullName == "deny"
}

test_other_purpose_denied if {
	d := authz.decision with input as object.union(base, {"purpose": "DKKD"})
	d.fields.fullName == "deny"
}

test_expired_agreement_denied if {
	old := object.union(agreement, {"valid_to": "2026-01-01T00:00:00Z"})
	d := authz.decision with input as object.union(base, {"agreements": [old]})
	d.fields.fullName == "deny"
}

test_via_restricted_agreement_needs_the_relation if {
	scoped := object.union(agreement, {"via": ["Enterprise.legalRepresentatives"]})
	direct := authz.decision with input as object.union(base, {"agreements": [scoped]})
	direct.fields.fullName == "deny"
	nested := authz.decision with input as object.union(base, {
		"agreements": [scoped], "via": "Enterprise.legalRepresentatives",
	})
	nested.fields.fullName == "allow"
}

loan_input := object.union(base, {"agency": "nganhang-abc", "purpose": "TD-VAY", "agreements": [loan]})

test_consent_required_and_missing_denied if {
	d := authz.decision with input as loan_input
	d.fields.fullName == "deny"
	d.reasons.fullName == "consent required and none in force for this field"
}

test_consent_given_allows if {
	d := authz.decision with input as object.union(loan_input, {"consents": [consent]})
	d.fields.fullName == "allow"
}

test_revoked_consent_denies if {
	revoked := object.union(consent, {"revoked_at": "2026-11-10T00:00:00Z"})
	d := authz.decision with input as object.union(loan_input, {"consents": [revoked]})
	d.fields.fullName == "deny"
}

test_expired_consent_denies if {
	expired := object.union(consent, {"expires_at": "2026-11-10T00:00:00Z"})
	d := authz.decision with input as object.union(loan_input, {"consents": [expired]})
	d.fields.fullName == "deny"
}

test_citizen_reads_own_record if {
	d := authz.decision with input as object.union(base, {
		"roles": ["citizen"], "citizen_id": "048085000123", "agreements": [],
		"fields": ["religion"],
	})
	d.fields.religion == "allow"
}

test_citizen_cannot_read_another if {
	d := authz.decision with input as object.union(base, {
		"roles": ["citizen"], "citizen_id": "079203000456", "agreements": [],
	})
	d.fields.fullName == "deny"
}

test_steward_role_gives_no_data if {
	d := authz.decision with input as object.union(base, {"roles": ["steward"], "agreements": []})
	d.fields.fullName == "deny"
}

test_citizen_reads_own_access_log if {
	d := authz.decision with input as object.union(base, {
		"roles": ["citizen"], "citizen_id": "048085000123", "agreements": [],
		"type": "AccessLog", "fields": ["agency", "purpose"],
	})
	d.fields == {"agency": "allow", "purpose": "allow"}
}

test_agency_cannot_read_an_access_log if {
	d := authz.decision with input as object.union(base, {"type": "AccessLog"})
	d.fields.fullName == "deny"
}

# The verdict (what the embedded adapter reads) carries the decision as sets.
test_verdict_groups_outcomes_and_denials_by_reason if {
	two := object.union(loan, {"fields": ["fullName", "birthDate"]})
	v := authz.verdict with input as object.union(base, {
		"agency": "nganhang-abc", "purpose": "TD-VAY", "agreements": [two], "consents": [consent],
		"fields": ["fullName", "birthDate", "religion"],
	})
	v.allowed == {"fullName"}
	v.masked == set()
	v.denials == {
		"consent required and none in force for this field": {"birthDate"},
		"field outside the agreement": {"religion"},
	}
	v.legal_basis == ["consent"]
	v.allow
}

test_verdict_masks_and_no_agreement if {
	masked := authz.verdict with input as object.union(base, {"fields": ["id", "fullName"]})
	masked.allowed == {"fullName"}
	masked.masked == {"id"}
	masked.masks == {"id": "last4"}
	none := authz.verdict with input as object.union(base, {"agreements": []})
	none.denials == {"no approved agreement in force for this agency, purpose and type": {"fullName"}}
	not none.allow
}

# An agreement that names a field in clear wins over one that masks it.
test_clear_wins_over_masked if {
	clear := object.union(object.remove(agreement, ["masking"]), {"masking": {}})
	d := authz.decision with input as object.union(base, {
		"fields": ["id"], "agreements": [agreement, clear],
	})
	d.fields.id == "allow"
	d.obligations.mask == {}
}

# Many subjects in one evaluation: each gets the verdict it gets alone — a consenting subject,
# one without consent, and the citizen reading their own record.
test_verdicts_are_each_subjects_own_verdict if {
	loan_input := object.union(base, {
		"agency": "nganhang-abc", "purpose": "TD-VAY", "agreements": [loan],
		"roles": ["agency", "citizen"], "citizen_id": "001090000001",
	})
	batch := object.union(object.remove(loan_input, ["subject", "consents"]), {"subjects": [
		{"subject": "048085000123", "consents": [consent]},
		{"subject": "079090000456", "consents": []},
		{"subject": "001090000001", "consents": []},
	]})
	vs := authz.verdicts with input as batch
	count(vs) == 3
	vs[0] == authz.verdict with input as object.union(loan_input, {"consents": [consent]})
	vs[1] == authz.verdict with input as object.union(loan_input, {"subject": "079090000456"})
	vs[2] == authz.verdict with input as object.union(loan_input, {"subject": "001090000001"})
	vs[0].allowed == {"fullName"}
	vs[1].allowed == set()
	vs[2].legal_basis == ["data subject's own record"]
}

# A request that names a dossier reaches at the root only the dossier's subjects; relations from
# them are decided by the agreements as usual; without a dossier nothing changes.
test_dossier_subject_decided_as_usual if {
	d := authz.decision with input as object.union(base, {"dossier": ["048085000123"]})
	d.fields == {"fullName": "allow"}
}

test_subject_outside_the_dossier_refused_whole if {
	d := authz.decision with input as object.union(base, {"dossier": ["079090000456"]})
	not d.allow
	d.fields == {"fullName": "deny"}
	d.reasons.fullName == "outside the dossier this request serves"
}

test_empty_dossier_refuses_every_root_subject if {
	d := authz.decision with input as object.union(base, {"dossier": []})
	not d.allow
}

test_dossier_does_not_restrict_relations if {
	reached := object.union(base, {"dossier": [], "via": "Household.members.resident"})
	d := authz.decision with input as reached
	d.fields == {"fullName": "allow"}
}

test_null_dossier_restricts_nothing if {
	d := authz.decision with input as object.union(base, {"dossier": null})
	d.allow
}

test_verdicts_refuse_outside_the_dossier_only if {
	batch := object.union(object.remove(base, ["subject", "consents"]), {
		"dossier": ["048085000123"],
		"subjects": [
			{"subject": "048085000123", "consents": []},
			{"subject": "079090000456", "consents": []},
		],
	})
	vs := authz.verdicts with input as batch
	vs[0].allowed == {"fullName"}
	not vs[1].allow
}
