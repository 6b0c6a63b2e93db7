//! Atomic file writes: every file is first written to a temporary name beside its destination
//! and renamed over it only when all of them are complete, so a failure leaves the
//! destinations untouched and no temporary file behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes every `(destination, write)` pair atomically, all or none: each `write` fills a
/// temporary file `.<name>.<pid>.tmp` beside its destination; once every one succeeded they
/// are renamed in order. On an error the temporaries are removed and the error comes back
/// with the destination it concerned.
pub fn write_all_atomic<I, F>(files: I) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)>
where
    I: IntoIterator<Item = (PathBuf, F)>,
    F: FnOnce(&mut fs::File) -> std::io::Result<()>,
{
    let pid = std::process::id();
    let mut temps: Vec<(PathBuf, PathBuf)> = vec![];
    let cleanup = |temps: &[(PathBuf, PathBuf)]| {
        for (t, _) in temps {
            let _ = fs::remove_file(t);
        }
    };
    for (dest, write) in files {
        let tmp = match temp_name(&dest, pid) {
            Ok(t) => t,
            Err(e) => {
                cleanup(&temps);
                return Err((dest, e));
            }
        };
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                write(&mut f)
                    .and_then(|()| f.flush())
                    .and_then(|()| f.sync_all())
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            cleanup(&temps);
            return Err((dest, e));
        }
        temps.push((tmp, dest));
    }
    for (i, (tmp, dest)) in temps.iter().enumerate() {
        if let Err(e) = fs::rename(tmp, dest) {
            cleanup(&temps[i..]);
            return Err((dest.clone(), e));
        }
    }
    Ok(temps.into_iter().map(|(_, d)| d).collect())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    write_all_atomic([(path.to_path_buf(), |f: &mut fs::File| f.write_all(bytes))])
        .map(|_| ())
        .map_err(|(_, e)| e)
}

/// `dir/.<name>.<pid>.tmp` for `dir/<name>`.
fn temp_name(path: &Path, pid: u32) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(dir.join(format!(".{}.{pid}.tmp", name.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_nothing() {
        let dir = std::env::temp_dir().join(format!("onnxscope-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.bin");
        write_atomic(&a, b"first").unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"first");
        // the second write fails: the first destination keeps its old content
        let r = write_all_atomic([
            (
                a.clone(),
                Box::new(|f: &mut fs::File| f.write_all(b"second"))
                    as Box<dyn FnOnce(&mut fs::File) -> std::io::Result<()>>,
            ),
            (
                dir.join("b.bin"),
                Box::new(|_: &mut fs::File| Err(std::io::Error::other("refused"))),
            ),
        ]);
        let (path, e) = r.unwrap_err();
        assert_eq!(path, dir.join("b.bin"));
        assert_eq!(e.to_string(), "refused");
        assert_eq!(fs::read(&a).unwrap(), b"first");
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}
