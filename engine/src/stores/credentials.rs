//! AWS credentials when no static keys are given: the AWS SDK's default chain, cached.
//!
//! ```text
//! get_credential ──cached and more than 5 minutes from expiry?──> the cached keys
//!                └─> DefaultCredentialsChain: environment → profile (AWS_PROFILE, ~/.aws/config and
//!                    credentials: role_arn + source_profile, SSO, credential_process) → web identity
//!                    (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN) → ECS/Fargate/EKS container
//!                    (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI | _FULL_URI + _AUTHORIZATION_TOKEN[_FILE])
//!                    → EC2 instance metadata
//! ```
//!
//! One provider serves every bucket of a session, so a long job refreshes a task role's keys once
//! before they expire instead of once per bucket. Only the name of the source is ever shown.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::ProvideCredentials;
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use tokio::sync::{Mutex, OnceCell};

/// Keys this close to their expiry are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Credentials from the AWS SDK's default chain, cached until shortly before they expire.
#[derive(Debug, Default)]
pub(crate) struct SdkCredentials {
    chain: OnceCell<DefaultCredentialsChain>,
    cached: Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    credential: Arc<AwsCredential>,
    expires: Option<SystemTime>,
    source: String,
}

impl Cached {
    fn is_fresh(&self) -> bool {
        self.expires
            .is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
    }
}

/// Why the chain found no credentials (never carries a secret).
#[derive(Debug, thiserror::Error)]
#[error(
    "no AWS credentials found ({reason}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
     choose a profile with AWS_PROFILE, or run with a task, pod or instance role"
)]
pub(crate) struct NoCredentials {
    reason: String,
}

impl SdkCredentials {
    /// Fresh keys and the name of the source that gave them (`EcsContainer`, `ProfileFile`, ...).
    pub(crate) async fn resolve(&self) -> Result<(Arc<AwsCredential>, String), NoCredentials> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.is_fresh()) {
            return Ok((Arc::clone(&c.credential), c.source.clone()));
        }
        let chain = self
            .chain
            .get_or_init(|| DefaultCredentialsChain::builder().build())
            .await;
        let keys = chain.provide_credentials().await.map_err(|e| NoCredentials {
            reason: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        })?;
        let fresh = Cached {
            credential: Arc::new(AwsCredential {
                key_id: keys.access_key_id().to_string(),
                secret_key: keys.secret_access_key().to_string(),
                token: keys.session_token().map(str::to_string),
            }),
            expires: keys.expiry(),
            source: source_name(&keys),
        };
        tracing::debug!(source = %fresh.source, expires = ?fresh.expires, "AWS credentials resolved");
        let out = (Arc::clone(&fresh.credential), fresh.source.clone());
        *cached = Some(fresh);
        Ok(out)
    }
}

/// The provider's name (`EcsContainer`, `ProfileFile`, ...): the SDK shows it only in the
/// credentials' debug form, next to the key id and a redacted secret.
fn source_name(keys: &aws_credential_types::Credentials) -> String {
    const FIELD: &str = "provider_name: \"";
    let shown = format!("{keys:?}");
    shown
        .split_once(FIELD)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(|| "AWS default chain".to_string(), |(name, _)| name.to_string())
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.resolve()
            .await
            .map(|(credential, _)| credential)
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(expires: Option<SystemTime>) -> Cached {
        Cached {
            credential: Arc::new(AwsCredential {
                key_id: "k".into(),
                secret_key: "s".into(),
                token: None,
            }),
            expires,
            source: "test".into(),
        }
    }

    #[test]
    fn keys_are_fetched_again_shortly_before_they_expire() {
        let now = SystemTime::now();
        assert!(cached(None).is_fresh(), "keys without expiry last");
        assert!(cached(Some(now + Duration::from_secs(3600))).is_fresh());
        assert!(!cached(Some(now + Duration::from_secs(60))).is_fresh());
        assert!(!cached(Some(now - Duration::from_secs(1))).is_fresh());
    }

    #[test]
    fn the_source_is_named_and_the_secret_never_is() {
        let keys = aws_credential_types::Credentials::new(
            "AKIAEXAMPLE",
            "very-secret",
            Some("tok".into()),
            None,
            "EcsContainer",
        );
        assert_eq!(source_name(&keys), "EcsContainer");
        let err = NoCredentials {
            reason: "the chain found nothing".into(),
        };
        assert!(err.to_string().contains("AWS_PROFILE"), "{err}");
    }
}
