//! Partner profiles as translation uses them: which partner an interchange belongs to, and the
//! policy, grammars and mapping settings that follow from it.
//!
//! Matching is by ISA sender and receiver (`"ZZ:ACMEWMS"`, as `ISA05:ISA06`); partner files
//! guarantee a pair names at most one partner. A partner that also names GS02/GS03 claims only
//! the groups that carry them: another group in the same interchange is translated as partner
//! `"unknown"`, with a warning, because its records must not reach that partner's systems. The
//! policy and grammars are chosen per interchange (the engine validates before it sees a GS), so
//! such a group is still validated under the partner's policy.

use crate::canonical::map::MappingSettings;
use crate::config::partner::{Partner, UNKNOWN_PARTNER};
use crate::x12::envelope::{Group, Interchange, ProfileSelector};
use crate::x12::grammar::{Grammar, GrammarError, Grammars};
use crate::x12::policy::Policy;

/// One partner, ready for translation.
#[derive(Debug, Clone)]
pub struct Profile {
    /// What the mappers see (the partner id is in here).
    pub settings: MappingSettings,
    /// ISA05:ISA06 to match.
    pub sender: String,
    /// ISA07:ISA08 to match.
    pub receiver: String,
    /// GS02 the partner's groups carry, when configured.
    pub gs_sender: Option<String>,
    /// GS03 the partner's groups carry, when configured.
    pub gs_receiver: Option<String>,
    /// The partner's validation policy.
    pub policy: Policy,
    /// The default grammars plus the partner's own files (`None`: the defaults as they are).
    pub grammars: Option<Grammars>,
}

/// The settings a group's sets are mapped with, and why they are not the partner's, if so.
#[derive(Debug, Clone)]
pub struct GroupSettings<'a> {
    /// Mapping settings (partner id included).
    pub settings: &'a MappingSettings,
    /// Set when the interchange's partner does not claim this group.
    pub warning: Option<String>,
}

/// Every partner plus the defaults for interchanges no partner claims.
#[derive(Debug, Clone)]
pub struct Profiles {
    grammars: Grammars,
    policy: Policy,
    policy_override: Option<Policy>,
    partners: Vec<Profile>,
    forced: Option<usize>,
    unknown: MappingSettings,
}

/// `--partner ID` named no loaded partner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no partner has id {0:?}")]
pub struct UnknownPartnerId(pub String);

impl Profiles {
    /// No partners: every interchange is partner `"unknown"`, validated under `policy`.
    pub fn new(grammars: Grammars, policy: Policy) -> Self {
        Profiles {
            grammars,
            policy,
            policy_override: None,
            partners: Vec::new(),
            forced: None,
            unknown: MappingSettings {
                partner: UNKNOWN_PARTNER.to_string(),
                ..MappingSettings::default()
            },
        }
    }

    /// Adds partners (those without an `[x12]` table are ignored), loading each partner's
    /// grammar files on top of the default grammars. Returns every grammar error.
    pub fn with_partners(mut self, partners: &[Partner]) -> Result<Self, Vec<GrammarError>> {
        let mut errors = Vec::new();
        for p in partners {
            let Some(x) = &p.x12 else { continue };
            let mut grammars = None;
            if !x.grammars.is_empty() {
                let mut g = self.grammars.clone();
                for path in &x.grammars {
                    match Grammar::load(path) {
                        Ok(gr) => g.insert(gr),
                        Err(e) => errors.extend(e),
                    }
                }
                grammars = Some(g);
            }
            self.partners.push(Profile {
                settings: p.mapping_settings(),
                sender: x.sender.clone(),
                receiver: x.receiver.clone(),
                gs_sender: x.gs_sender.clone(),
                gs_receiver: x.gs_receiver.clone(),
                policy: x.policy,
                grammars,
            });
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// Treats every interchange as coming from partner `id` (its sender and receiver are not
    /// compared, nor its GS02/GS03).
    pub fn force(&mut self, id: &str) -> Result<(), UnknownPartnerId> {
        let i = self
            .partners
            .iter()
            .position(|p| p.settings.partner == id)
            .ok_or_else(|| UnknownPartnerId(id.to_string()))?;
        self.forced = Some(i);
        Ok(())
    }

    /// Validates every interchange under `policy`, whatever its partner's own policy.
    pub fn override_policy(&mut self, policy: Policy) {
        self.policy_override = Some(policy);
    }

    /// The policy for interchanges no partner claims.
    pub fn default_policy(&self) -> Policy {
        self.policy_override.unwrap_or(self.policy)
    }

    /// The grammars for interchanges no partner claims (and the base of every partner's).
    pub fn default_grammars(&self) -> &Grammars {
        &self.grammars
    }

    /// The partner an interchange belongs to, if any.
    pub fn matching(&self, ic: &Interchange) -> Option<&Profile> {
        if let Some(i) = self.forced {
            return self.partners.get(i);
        }
        let (sender, receiver) = (ic.sender(), ic.receiver());
        self.partners
            .iter()
            .find(|p| p.sender == sender && p.receiver == receiver)
    }

    /// The mapping settings for what an interchange holds outside groups (TA1).
    pub fn interchange_settings<'a>(&'a self, profile: Option<&'a Profile>) -> &'a MappingSettings {
        profile.map_or(&self.unknown, |p| &p.settings)
    }

    /// The mapping settings for a group of an interchange whose partner is `profile`.
    pub fn group_settings<'a>(
        &'a self,
        profile: Option<&'a Profile>,
        group: &Group,
    ) -> GroupSettings<'a> {
        let Some(p) = profile else {
            return GroupSettings {
                settings: &self.unknown,
                warning: None,
            };
        };
        let claims = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
        let forced = self.forced.is_some();
        if forced
            || (claims(&p.gs_sender, group.field(2)) && claims(&p.gs_receiver, group.field(3)))
        {
            return GroupSettings {
                settings: &p.settings,
                warning: None,
            };
        }
        let warning = format!(
            "GS02 {:?} / GS03 {:?} are not partner {}'s; translated as partner unknown",
            group.field(2),
            group.field(3),
            p.settings.partner
        );
        GroupSettings {
            settings: &self.unknown,
            warning: Some(warning),
        }
    }
}

impl ProfileSelector for Profiles {
    fn select(&self, ic: &Interchange) -> Option<(Policy, &Grammars)> {
        let p = self.matching(ic)?;
        let policy = self.policy_override.unwrap_or(p.policy);
        Some((policy, p.grammars.as_ref().unwrap_or(&self.grammars)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::isa;
    use std::path::Path;

    fn partner(text: &str) -> Partner {
        Partner::parse(Path::new("p.toml"), text).expect("valid partner")
    }

    fn interchange(sender: &str, receiver: &str) -> Interchange {
        Interchange {
            ordinal: 1,
            offset: 0,
            header: isa([
                "00",
                "",
                "00",
                "",
                "ZZ",
                sender,
                "ZZ",
                receiver,
                "260105",
                "1430",
                "U",
                "00401",
                "000000001",
                "0",
                "P",
                ">",
            ]),
        }
    }

    fn group(gs02: &str, gs03: &str) -> Group {
        Group {
            ordinal: 1,
            offset: 0,
            fields: ["OW", gs02, gs03, "20260105", "1430", "1", "X", "004010"]
                .map(String::from)
                .to_vec(),
        }
    }

    fn profiles() -> Profiles {
        let partners = [
            partner(
                "id = \"acme\"\nname = \"A\"\n[x12]\nsender = \"ZZ:ACME\"\nreceiver = \"ZZ:US\"\npolicy = \"strict\"\n",
            ),
            partner(
                "id = \"beta\"\nname = \"B\"\n[x12]\nsender = \"ZZ:BETA\"\nreceiver = \"ZZ:US\"\ngs_sender = \"BETA-OW\"\n",
            ),
            partner("id = \"flat\"\nname = \"F\"\n"),
        ];
        Profiles::new(Grammars::default(), Policy::Standard)
            .with_partners(&partners)
            .expect("no grammar files")
    }

    #[test]
    fn matches_by_isa_sender_and_receiver() {
        let p = profiles();
        let acme = interchange("ACME", "US");
        assert_eq!(
            p.matching(&acme).map(|m| m.settings.partner.as_str()),
            Some("acme")
        );
        assert!(p.matching(&interchange("ACME", "THEM")).is_none());
        assert_eq!(
            p.select(&acme).map(|(policy, _)| policy),
            Some(Policy::Strict)
        );
        assert!(p.select(&interchange("NOBODY", "US")).is_none());
        assert_eq!(p.interchange_settings(None).partner, "unknown");
    }

    #[test]
    fn gs_ids_limit_the_groups_a_partner_claims() {
        let p = profiles();
        let beta = interchange("BETA", "US");
        let profile = p.matching(&beta);
        let claimed = p.group_settings(profile, &group("BETA-OW", "US"));
        assert_eq!(claimed.settings.partner, "beta");
        assert!(claimed.warning.is_none());
        let other = p.group_settings(profile, &group("BETA-SW", "US"));
        assert_eq!(other.settings.partner, "unknown");
        assert!(
            other
                .warning
                .is_some_and(|w| w.contains("not partner beta's"))
        );
    }

    #[test]
    fn forcing_a_partner_and_overriding_the_policy() {
        let mut p = profiles();
        assert!(
            p.force("flat").is_err(),
            "a partner without [x12] cannot be forced"
        );
        p.force("beta").expect("beta exists");
        p.override_policy(Policy::Lenient);
        let any = interchange("SOMEONE", "ELSE");
        assert_eq!(
            p.matching(&any).map(|m| m.settings.partner.as_str()),
            Some("beta")
        );
        let settings = p.group_settings(p.matching(&any), &group("X", "Y"));
        assert_eq!(settings.settings.partner, "beta");
        assert!(settings.warning.is_none());
        assert_eq!(
            p.select(&any).map(|(policy, _)| policy),
            Some(Policy::Lenient)
        );
        assert_eq!(p.default_policy(), Policy::Lenient);
    }
}
