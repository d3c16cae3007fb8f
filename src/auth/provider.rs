//! URL providers: where the client engine gets the URL of each new connection (never of a
//! recovery, which reuses the old URL with the recovery parameters added).

use std::future::Future;
use std::pin::Pin;

use thiserror::Error;
use url::Url;

/// The future a provider returns.
pub type UrlFuture = Pin<Box<dyn Future<Output = Result<Url, ProviderError>> + Send>>;

/// Gives the client URL (with its `access_token`) for a new connection.
pub trait UrlProvider: Send + Sync + 'static {
    fn client_url(&self) -> UrlFuture;
    /// A short description for status lines, with no secrets in it.
    fn describe(&self) -> String;
}

/// Why no client URL could be had.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Worth trying again later (network trouble, a 5xx from negotiate).
    #[error("{0}")]
    Transient(String),
    /// Trying again will not help (bad configuration, a 4xx from negotiate).
    #[error("{0}")]
    Permanent(String),
    /// The endpoint refused the credentials (negotiate answered 401 or 403): permanent too,
    /// and an authentication failure to the user.
    #[error("{0}")]
    Refused(String),
}

/// A fixed client URL, as the Azure portal generates it. Its token cannot be renewed.
#[derive(Debug, Clone)]
pub struct FixedUrl(pub Url);

impl UrlProvider for FixedUrl {
    fn client_url(&self) -> UrlFuture {
        let url = self.0.clone();
        Box::pin(async move { Ok(url) })
    }

    fn describe(&self) -> String {
        crate::redact::redact_url(&self.0)
    }
}
