//! Turning user-typed paths and URLs into [`Location`]s.

use std::fmt;
use std::path::Path;

use datafusion::datasource::listing::ListingTableUrl;
use url::Url;

use crate::error::{EngineError, Result};

/// A place data is read from or written to: a local path or an object store URL, kept with the text
/// the user typed so errors can quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    original: String,
    url: Url,
}

impl Location {
    /// Parses a path (`data/orders`, `/abs/x.csv`), a `file://` URL or an object store URL
    /// (`s3://bucket/prefix/`). Local folders that exist get a trailing `/` so they are listed.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: String| EngineError::InvalidLocation {
            location: text.to_string(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(invalid("it is empty".into()));
        }
        let url = if let Some((scheme, _)) = text.split_once("://") {
            if scheme.len() == 1 {
                // A Windows drive letter, not a scheme.
                local_url(text)?
            } else {
                let mut url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
                if url.scheme() == "s3a" {
                    let rest = &text["s3a://".len()..];
                    url = Url::parse(&format!("s3://{rest}")).map_err(|e| invalid(e.to_string()))?;
                }
                if url.scheme() == "file" {
                    let path = url
                        .to_file_path()
                        .map_err(|()| invalid("not an absolute file path".into()))?;
                    return Ok(Self {
                        original: text.to_string(),
                        url: local_url(&path.to_string_lossy())?,
                    });
                }
                url
            }
        } else {
            local_url(text)?
        };
        Ok(Self {
            original: text.to_string(),
            url,
        })
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// What the user typed.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// True for local files and folders.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The local path, for `file://` locations.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        self.is_local().then(|| self.url.to_file_path().ok()).flatten()
    }

    /// The same location as a folder (with a trailing `/`).
    pub fn as_folder(&self) -> Self {
        let mut url = self.url.clone();
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Self {
            original: self.original.clone(),
            url,
        }
    }

    /// True when the URL names a folder (ends with `/`).
    pub fn is_folder(&self) -> bool {
        self.url.path().ends_with('/')
    }

    /// The object store path under the store root.
    pub fn store_path(&self) -> object_store::path::Path {
        let decoded = percent_decode(self.url.path().trim_start_matches('/'));
        object_store::path::Path::from(decoded.trim_end_matches('/'))
    }

    /// The store key: `scheme://host/`.
    pub fn store_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    /// The location as a DataFusion listing URL.
    pub fn listing_url(&self) -> Result<ListingTableUrl> {
        ListingTableUrl::parse(self.url.as_str()).map_err(|e| EngineError::InvalidLocation {
            location: self.original.clone(),
            reason: e.to_string(),
        })
    }

    /// A child location: `self/relative`.
    pub fn join(&self, relative: &str) -> Result<Self> {
        let folder = self.as_folder();
        let url = folder
            .url
            .join(relative)
            .map_err(|e| EngineError::InvalidLocation {
                location: format!("{}{relative}", folder.url),
                reason: e.to_string(),
            })?;
        Ok(Self {
            original: format!(
                "{}{relative}",
                folder.original.trim_end_matches('/').to_string() + "/"
            ),
            url,
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn local_url(text: &str) -> Result<Url> {
    let path = Path::new(text);
    let absolute = std::path::absolute(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // `data/../lake/` names `lake/`: a URL segment `..` is not a path object stores accept.
    let absolute = lexically_normal(&absolute);
    let wants_folder = text.ends_with('/') || absolute.is_dir();
    let url = if wants_folder {
        Url::from_directory_path(&absolute)
    } else {
        Url::from_file_path(&absolute)
    };
    url.map_err(|()| EngineError::InvalidLocation {
        location: text.to_string(),
        reason: "not a valid local path".into(),
    })
}

/// `path` without `.` and with each `..` taking away the component before it (as shells and
/// DuckDB read a path, without resolving symbolic links).
fn lexically_normal(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_keep_bucket_and_prefix() {
        let loc = Location::parse("s3://lake/raw/orders/").unwrap();
        assert_eq!(loc.url().host_str(), Some("lake"));
        assert_eq!(loc.store_path().as_ref(), "raw/orders");
        assert!(loc.is_folder());
        assert!(!loc.is_local());
    }

    #[test]
    fn s3a_is_s3() {
        assert_eq!(Location::parse("s3a://lake/x").unwrap().url().scheme(), "s3");
    }

    #[test]
    fn existing_local_folder_gets_trailing_slash() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse(dir.path().to_str().unwrap()).unwrap();
        assert!(loc.is_folder());
        assert!(loc.is_local());
        assert_eq!(loc.local_path().unwrap(), dir.path());
    }

    #[test]
    fn dot_dot_segments_are_resolved() {
        let l = Location::parse("/data/raw/../lake/./orders/").unwrap();
        assert_eq!(l.url().as_str(), "file:///data/lake/orders/");
    }

    #[test]
    fn relative_paths_become_absolute() {
        let loc = Location::parse("some/file.csv").unwrap();
        assert!(loc.url().path().ends_with("/some/file.csv"));
        assert!(!loc.is_folder());
    }

    #[test]
    fn file_url_with_spaces_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("with space");
        std::fs::create_dir(&sub).unwrap();
        let loc = Location::parse(sub.to_str().unwrap()).unwrap();
        assert_eq!(loc.local_path().unwrap(), sub);
        assert!(loc.store_path().as_ref().ends_with("with space"));
    }

    #[test]
    fn join_appends_under_folder() {
        let loc = Location::parse("s3://lake/out")
            .unwrap()
            .join("_SUCCESS")
            .unwrap();
        assert_eq!(loc.url().as_str(), "s3://lake/out/_SUCCESS");
    }
}
