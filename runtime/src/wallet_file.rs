//! Private key files: created readable by their owner only, without a race and never over an
//! existing file, and refused at start-up when other users can read them (as ssh refuses a
//! private key it finds group- or world-readable).
//!
//! Every unit (SU, CU, MU) and `ao devnet` loads its wallet here, so the rules are the same
//! everywhere; a unit that needs a particular kind of key (the MU: ed25519) checks it after
//! loading.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ao_core::wallet::{Wallet, WalletKind};

/// Permission bits a key file must not have: any access by the group or by others. Same rule as
/// ssh's for private keys (`st_mode & 077`).
pub const FORBIDDEN_MODE_BITS: u32 = 0o077;

/// Mode of a key file we create: read and write by its owner only.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Why a wallet file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WalletFileError {
    /// The file cannot be opened or read.
    #[error("cannot read wallet {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Other users can read (or write) the key.
    #[error(
        "wallet {} is accessible by other users (mode {mode:04o}); a private key must be readable \
         by its owner only: run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The contents are not a wallet JWK.
    #[error("wallet {}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A new key file (or its directory) cannot be written.
    #[error("cannot create wallet {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Key generation failed.
    #[error("cannot generate a key for {}: {reason}", path.display())]
    Generate {
        /// The file it was for.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Read the wallet at `path`, refusing it when group or others have access to the file.
pub fn load(path: &Path) -> Result<Wallet, WalletFileError> {
    let read_err = |source| WalletFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    // The mode of the file opened, not of the path looked up again: no window between the check
    // and the read.
    check_mode(path, &file)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_err)?;
    Wallet::from_json(&text).map_err(|e| WalletFileError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(unix)]
fn check_mode(path: &Path, file: &std::fs::File) -> Result<(), WalletFileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = file.metadata().map_err(|source| WalletFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & FORBIDDEN_MODE_BITS != 0 {
        return Err(WalletFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _file: &std::fs::File) -> Result<(), WalletFileError> {
    Ok(())
}

/// Write `wallet` to a new file at `path` with mode [`KEY_FILE_MODE`]; never replaces an existing
/// file (`AlreadyExists` in [`WalletFileError::Create`]).
///
/// The key goes to a temporary file opened with `create_new` and mode 0600 (never visible with
/// other permissions), is synced, and is then hard-linked to `path`, which fails if `path`
/// exists: a concurrent reader sees no file or the whole key, never half of one, and two
/// concurrent creators cannot overwrite each other.
pub fn create(path: &Path, wallet: &Wallet) -> Result<(), WalletFileError> {
    let create_err = |source| WalletFileError::Create {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(create_err)?;
    }
    let tmp = temp_path(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, KEY_FILE_MODE);
    let mut file = options.open(&tmp).map_err(create_err)?;
    let written = file
        .write_all(wallet.to_json().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    drop(file);
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(create_err)
}

/// A temporary name beside `path`, unique to this process and call.
fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wallet".into());
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// The wallet at `path`; when the file does not exist and `create` is set, a new `kind` key is
/// made there (see [`create`]) and `true` is returned with it.
///
/// When another process creates the same file at the same moment, the first link wins and the
/// other reads the winner's key: both end up with the same wallet.
pub fn load_or_create(
    path: &Path,
    create_kind: Option<WalletKind>,
) -> Result<(Wallet, bool), WalletFileError> {
    match (load(path), create_kind) {
        (Err(WalletFileError::Read { source, .. }), Some(kind))
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let wallet = Wallet::generate(kind).map_err(|e| WalletFileError::Generate {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            match create(path, &wallet) {
                Ok(()) => Ok((wallet, true)),
                Err(WalletFileError::Create { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    Ok((load(path)?, false))
                }
                Err(e) => Err(e),
            }
        }
        (other, _) => other.map(|w| (w, false)),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_created_key_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/wallet.json");
        let (w, created) = load_or_create(&path, Some(WalletKind::Ed25519)).unwrap();
        assert!(created);
        assert_eq!(mode(&path), 0o600);
        let (again, created) = load_or_create(&path, Some(WalletKind::Ed25519)).unwrap();
        assert!(!created);
        assert_eq!(again.address(), w.address());
        // No temporary file left beside it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_key_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        load_or_create(&path, Some(WalletKind::Ed25519)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(e) = load(&path) else {
            panic!("a 0644 key was loaded")
        };
        assert!(
            matches!(e, WalletFileError::TooOpen { mode: 0o644, .. }),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!("chmod 600 {}", path.display())),
            "{text}"
        );
        // Also refused through load_or_create, and left as it was.
        assert!(load_or_create(&path, Some(WalletKind::Ed25519)).is_err());
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).is_ok());
    }

    #[test]
    fn an_existing_key_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        let first = Wallet::generate(WalletKind::Ed25519).unwrap();
        create(&path, &first).unwrap();
        let second = Wallet::generate(WalletKind::Ed25519).unwrap();
        let Err(e) = create(&path, &second) else {
            panic!("an existing key was overwritten")
        };
        assert!(
            matches!(&e, WalletFileError::Create { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(load(&path).unwrap().address(), first.address());
        // A file that is not a wallet is reported, not replaced.
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, "not a key").unwrap();
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            load_or_create(&junk, Some(WalletKind::Ed25519)),
            Err(WalletFileError::Parse { .. })
        ));
        assert_eq!(std::fs::read_to_string(&junk).unwrap(), "not a key");
    }

    #[test]
    fn concurrent_creators_end_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.json");
        let addresses: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        load_or_create(&path, Some(WalletKind::Ed25519))
                            .unwrap()
                            .0
                            .address()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            addresses.iter().all(|a| a == &addresses[0]),
            "{addresses:?}"
        );
        assert_eq!(load(&path).unwrap().address(), addresses[0]);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_key_without_create_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.json");
        assert!(matches!(
            load_or_create(&path, None),
            Err(WalletFileError::Read { .. })
        ));
        assert!(!path.exists());
    }
}
