//! URL → object store.
//!
//! [`Location`] turns what a user typed (a relative path, `file://…`, `s3://bucket/prefix/`) into a
//! URL DataFusion understands. [`StoreRegistry`] is the session's object store registry: it creates a
//! store the first time a URL for its bucket is seen, whether the URL came from a command line flag
//! or from SQL (`SELECT * FROM 's3://b/t/'`), so no store is configured up front.

mod credentials;
mod local;
pub mod s3;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use object_store::memory::InMemory;
use url::Url;

pub use local::Location;
pub use s3::{S3Options, Secret};

use crate::error::{EngineError, Result};

/// Lazily creates and caches one object store per `scheme://bucket`.
#[derive(Debug)]
pub struct StoreRegistry {
    s3: S3Options,
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    /// A registry that builds S3 stores from `s3`.
    pub fn new(s3: S3Options) -> Self {
        Self {
            s3,
            stores: RwLock::new(HashMap::new()),
        }
    }

    /// The store serving `url`, created on first use.
    pub fn store_for(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self.read_stores().get(&key) {
            return Ok(Arc::clone(store));
        }
        let store = self.create(url)?;
        let mut stores = self
            .stores
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Arc::clone(stores.entry(key).or_insert(store)))
    }

    fn read_stores(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        self.stores
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn create(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let store = self.create_uncounted(url)?;
        Ok(Arc::new(crate::progress::CountingStore::new(store)))
    }

    fn create_uncounted(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "file" => Ok(Arc::new(object_store::local::LocalFileSystem::new())),
            "memory" => Ok(Arc::new(InMemory::new())),
            "s3" | "s3a" => {
                let bucket =
                    url.host_str()
                        .filter(|b| !b.is_empty())
                        .ok_or_else(|| EngineError::InvalidLocation {
                            location: url.to_string(),
                            reason: "an S3 URL needs a bucket: `s3://bucket/prefix/`".into(),
                        })?;
                tracing::debug!(bucket, "creating S3 store");
                Ok(Arc::new(self.s3.build(bucket)?))
            }
            other => Err(EngineError::UnsupportedScheme {
                scheme: other.to_string(),
                location: url.to_string(),
            }),
        }
    }
}

fn store_key(url: &Url) -> String {
    let scheme = match url.scheme() {
        "s3a" => "s3",
        s => s,
    };
    format!("{scheme}://{}", url.host_str().unwrap_or_default())
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.stores
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&store_key(url))
            .ok_or_else(|| DataFusionError::Plan(format!("no object store registered for `{url}`")))
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.store_for(url).map_err(DataFusionError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_store_per_bucket() {
        let registry = StoreRegistry::new(S3Options::default().with_region("us-east-1"));
        let a = Url::parse("s3://bucket-a/x/").unwrap();
        let a2 = Url::parse("s3://bucket-a/y/z.csv").unwrap();
        let b = Url::parse("s3://bucket-b/").unwrap();
        let sa = registry.store_for(&a).unwrap();
        assert!(Arc::ptr_eq(&sa, &registry.store_for(&a2).unwrap()));
        assert!(!Arc::ptr_eq(&sa, &registry.store_for(&b).unwrap()));
    }

    #[test]
    fn unknown_scheme_is_bad_input() {
        let registry = StoreRegistry::new(S3Options::default());
        let err = registry
            .store_for(&Url::parse("gs://bucket/x").unwrap())
            .unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("`gs`"), "{err}");
    }
}
