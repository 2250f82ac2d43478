//! Outputs are written to temporary files next to their destination and renamed only when
//! every requested format has been built: a failed build leaves previous artifacts intact.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::OutputError;

/// A temporary file in the output directory that becomes `dest` on [`Staging::commit`].
pub(crate) struct Staged {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl Staged {
    /// The open temporary file.
    pub(crate) fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Where it is now (for tools that write by path).
    pub(crate) fn tmp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// An error writing this output.
    pub(crate) fn err(&self, source: io::Error) -> OutputError {
        OutputError::Write {
            path: self.dest.clone(),
            source,
        }
    }
}

/// The set of outputs of one `write_outputs` call.
pub(crate) struct Staging {
    dir: PathBuf,
    files: Vec<Staged>,
}

impl Staging {
    pub(crate) fn new(dir: &Path) -> Self {
        Staging {
            dir: dir.to_path_buf(),
            files: Vec::new(),
        }
    }

    /// A scratch temporary file in the output directory (deleted when dropped).
    pub(crate) fn scratch(&self, what: &str) -> Result<NamedTempFile, OutputError> {
        tempfile::Builder::new()
            .prefix(&format!(".{what}."))
            .tempfile_in(&self.dir)
            .map_err(|source| OutputError::Write {
                path: self.dir.join(what),
                source,
            })
    }

    /// Starts the output `file_name`; returns its index for [`Staging::get`].
    pub(crate) fn create(&mut self, file_name: &str) -> Result<usize, OutputError> {
        let dest = self.dir.join(file_name);
        // The same file requested twice (e.g. `vhd` and `dynamic-vhd`): the last one wins.
        self.files.retain(|s| s.dest != dest);
        let tmp = self.scratch(file_name)?;
        self.files.push(Staged { tmp, dest });
        Ok(self.files.len() - 1)
    }

    /// Writes a whole small output.
    pub(crate) fn write_bytes(&mut self, file_name: &str, data: &[u8]) -> Result<(), OutputError> {
        let i = self.create(file_name)?;
        let s = &mut self.files[i];
        s.tmp.write_all(data).map_err(|e| s.err(e))
    }

    pub(crate) fn get(&mut self, i: usize) -> &mut Staged {
        &mut self.files[i]
    }

    /// Renames every output into place (mode 0644), in order; returns the final paths.
    pub(crate) fn commit(self) -> Result<Vec<PathBuf>, OutputError> {
        let mut done = Vec::new();
        for s in self.files {
            let err = |source| OutputError::Write {
                path: s.dest.clone(),
                source,
            };
            s.tmp.as_file().sync_all().map_err(err)?;
            fs::set_permissions(s.tmp.path(), fs::Permissions::from_mode(0o644)).map_err(err)?;
            s.tmp.persist(&s.dest).map_err(|e| err(e.error))?;
            done.push(s.dest);
        }
        Ok(done)
    }
}
