//! E-mail addresses, normalised to lower case so that one person has one account.

use crate::error::Invalid;

/// A syntactically valid e-mail address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        if s.len() > 254 {
            return Err(Invalid::TooLong);
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(Invalid::InvalidEmail);
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s))
        } else {
            Err(Invalid::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse(" Claire.Martin@Saint-Ouen.FR ").map(|e| e.0),
            Ok("claire.martin@saint-ouen.fr".into())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "claire", "@x.fr", "a@b", "a b@x.fr", "a@@x.fr", "a@x..fr", ".a@x.fr", "a@-x.fr",
        ] {
            assert_eq!(Email::parse(bad), Err(Invalid::InvalidEmail), "{bad}");
        }
        assert_eq!(Email::parse(""), Err(Invalid::Required));
    }
}
