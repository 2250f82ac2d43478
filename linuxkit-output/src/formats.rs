//! One function per format family, over what the formats of one build share: the initrd
//! (one pass over the tar), the root tree (another pass) and, with `--verity`, the verified
//! root image. [`Shared::read`] makes only what the wanted formats need.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::path::Path;

use sha2::Digest;
use tempfile::NamedTempFile;

use crate::initrd::BootFiles;
use crate::rootloader::{self, RootDevice};
use crate::staging::Staging;
use crate::tree::{self, Tree};
use crate::verity::{self, VerityRoot};
use crate::{
    abdisk, bios, bootfiles, convert, disk, efi, erofs, iso, kernel_initrd, rpi3, squashfs,
};
use crate::{
    efi_stub, needs_initrd, needs_tree, no_kernel, tar_to_initrd, uki_kernel, unsupported,
    with_root, Format, OutputError, OutputOptions,
};

/// A root loader built for a root device, opening a verity root or not.
type BuiltLoader = (RootDevice, bool, Option<Vec<u8>>);

/// What the formats of one build share, and what they are written from.
pub(crate) struct Shared<'a, R> {
    rootfs_tar: &'a Path,
    name: &'a str,
    opts: &'a OutputOptions,
    open: &'a dyn Fn() -> Result<R, OutputError>,
    /// The boot files and the compressed initrd, for the formats that boot an initrd.
    initrd: Option<(BootFiles, NamedTempFile)>,
    /// The root as a tree (its file contents in `_tree_data`), for file system images.
    tree: Option<(Tree, BootFiles)>,
    _tree_data: Option<NamedTempFile>,
    /// With `--verity`: one squashfs with its hash tree, for every format.
    verity_root: Option<VerityRoot>,
    /// Root loaders built so far, by root device and whether they open a verity root: formats
    /// booting the same kind of root share one.
    loaders: RefCell<Vec<BuiltLoader>>,
}

impl<'a, R: io::Read> Shared<'a, R> {
    /// Reads what `wanted` needs from the tar: the initrd in one pass, the tree in another.
    pub(crate) fn read(
        rootfs_tar: &'a Path,
        wanted: &[Format],
        staging: &Staging,
        name: &'a str,
        opts: &'a OutputOptions,
        open: &'a dyn Fn() -> Result<R, OutputError>,
    ) -> Result<Self, OutputError> {
        let verity = opts.verity.is_some();
        let mut initrd = None;
        if wanted.iter().any(|&f| needs_initrd(f, verity)) {
            let mut gz = staging.scratch("initrd.gz")?;
            let gz_path = gz.path().to_path_buf();
            let mut out = io::BufWriter::with_capacity(1 << 20, gz.as_file_mut());
            let boot = tar_to_initrd(
                open()?,
                rootfs_tar,
                &mut out,
                &gz_path,
                opts.compression.clone(),
            )?;
            io::Write::flush(&mut out).map_err(|source| OutputError::Write {
                path: gz_path.clone(),
                source,
            })?;
            drop(out);
            initrd = Some((boot, gz));
        }
        let (mut tree, mut tree_data) = (None, None);
        if wanted.iter().any(|&f| needs_tree(f, verity)) {
            let data = staging.scratch("rootfs.data")?;
            let file = data.reopen().map_err(|source| OutputError::Write {
                path: data.path().to_path_buf(),
                source,
            })?;
            tree = Some(tree::read_tree(open()?, rootfs_tar, file, false)?);
            tree_data = Some(data);
        }
        let verity_root = match (&opts.verity, &tree) {
            (Some(_), Some((t, _))) => Some(verity::root_image(t, staging)?),
            _ => None,
        };
        Ok(Shared {
            rootfs_tar,
            name,
            opts,
            open,
            initrd,
            tree,
            _tree_data: tree_data,
            verity_root,
            loaders: RefCell::new(Vec::new()),
        })
    }

    /// Writes format `f` into `staging`.
    pub(crate) fn write(&mut self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        match f {
            Format::Tar => {
                let i = staging.create(&f.file_name(self.name))?;
                let s = staging.get(i);
                io::copy(&mut (self.open)()?, s.file()).map_err(|e| s.err(e))?;
                Ok(())
            }
            Format::KernelInitrd | Format::TarKernelInitrd => {
                let (boot, gz) = self.initrd.as_mut().ok_or_else(|| unsupported(f))?;
                if f == Format::KernelInitrd {
                    kernel_initrd::write(staging, self.name, boot, gz.as_file_mut())
                } else {
                    kernel_initrd::write_tar(staging, self.name, boot, gz.as_file_mut())
                }
            }
            Format::KernelSquashfs => self.kernel_squashfs(f, staging),
            Format::KernelErofs => self.kernel_erofs(f, staging),
            Format::KernelIso => self.kernel_iso(f, staging),
            Format::Rpi3 => self.rpi3(f, staging),
            Format::RawEfi | Format::Qcow2Efi => self.efi_disk(f, staging),
            Format::IsoBios => self.iso_bios(f, staging),
            Format::IsoEfi | Format::IsoEfiInitrd => self.iso_efi(f, staging),
            Format::RawBios
            | Format::Aws
            | Format::Qcow2Bios
            | Format::Vhd
            | Format::DynamicVhd
            | Format::Vmdk
            | Format::Gcp => self.bios_disk(f, staging),
            _ => Err(unsupported(f)),
        }
    }

    /// Identifiers (disk GUIDs, FAT volume ids) derive from these, never from randomness; a
    /// raw disk and its qcow2 conversion get the same ones.
    fn seed(&self) -> [&'a [u8]; 2] {
        [self.name.as_bytes(), self.opts.arch.as_bytes()]
    }

    fn tree(&self, f: Format) -> Result<(&Tree, &BootFiles), OutputError> {
        let (t, boot) = self.tree.as_ref().ok_or_else(|| unsupported(f))?;
        Ok((t, boot))
    }

    /// `<name>-kernel` and `<name>-cmdline`, beside a root image.
    fn kernel_files(
        &self,
        staging: &mut Staging,
        boot: &BootFiles,
        cmdline: &str,
    ) -> Result<(), OutputError> {
        staging.write_bytes(&format!("{}-kernel", self.name), &boot.kernel)?;
        staging.write_bytes(&format!("{}-cmdline", self.name), cmdline.as_bytes())
    }

    /// The root loader for `device` (opening the verity root with the `--verity` helper when
    /// `verity`), when the kernel needs one; built once per kind for all formats.
    fn loader(
        &self,
        f: Format,
        device: RootDevice,
        verity: bool,
    ) -> Result<Option<Vec<u8>>, OutputError> {
        let built = self
            .loaders
            .borrow()
            .iter()
            .find_map(|(d, v, loader)| (*d == device && *v == verity).then(|| loader.clone()));
        if let Some(loader) = built {
            return Ok(loader);
        }
        let (t, _) = self.tree(f)?;
        let helper = match (verity, &self.opts.verity) {
            (true, Some(v)) => Some(v.helper.as_slice()),
            _ => None,
        };
        let loader = rootloader::loader(t, f, device, helper, &self.opts.arch)?;
        self.loaders
            .borrow_mut()
            .push((device, verity, loader.clone()));
        Ok(loader)
    }

    /// The root loader, as `<name>-<what>-initrd.img`, when the kernel needs one.
    fn loader_file(
        &self,
        f: Format,
        staging: &mut Staging,
        device: RootDevice,
        what: &str,
    ) -> Result<(), OutputError> {
        let verity = f == Format::KernelSquashfs && self.opts.verity.is_some();
        if let Some(loader) = self.loader(f, device, verity)? {
            staging.write_bytes(&format!("{}-{what}-initrd.img", self.name), &loader)?;
        }
        Ok(())
    }

    fn kernel_squashfs(&mut self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let (t, boot) = self.tree.as_ref().ok_or_else(|| unsupported(f))?;
        let cmdline = match &self.verity_root {
            Some(v) => verity::with_params(&boot.cmdline, &v.params),
            None => boot.cmdline.clone(),
        };
        self.kernel_files(staging, boot, &cmdline)?;
        self.loader_file(f, staging, RootDevice::Disk, "squashfs")?;
        let i = staging.create(&f.file_name(self.name))?;
        let s = staging.get(i);
        match &mut self.verity_root {
            Some(v) => v.copy_to(s.file()).map_err(|e| s.err(e)),
            None => squashfs::write(t, io::BufWriter::new(s.file())),
        }
    }

    fn kernel_erofs(&self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let (t, boot) = self.tree(f)?;
        self.kernel_files(staging, boot, &boot.cmdline)?;
        self.loader_file(f, staging, RootDevice::ErofsDisk, "erofs")?;
        let i = staging.create(&f.file_name(self.name))?;
        let s = staging.get(i);
        let [name, arch] = self.seed();
        let h = sha2::Sha256::digest([b"erofs".as_slice(), name, b"\0", arch].concat());
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&h[..16]);
        let path = s.tmp_path().to_path_buf();
        let mut w = io::BufWriter::with_capacity(1 << 20, s.file());
        erofs::write(t, uuid, &mut w)
            .and_then(|_| io::Write::flush(&mut w))
            .map_err(|source| OutputError::Write { path, source })
    }

    fn kernel_iso(&self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let (t, boot) = self.tree(f)?;
        self.kernel_files(staging, boot, &boot.cmdline)?;
        self.loader_file(f, staging, RootDevice::Cdrom, "iso")?;
        let i = staging.create(&f.file_name(self.name))?;
        let s = staging.get(i);
        iso::write(s.file(), Some(t), vec![], iso::Boot::None).map_err(|e| s.err(e))
    }

    fn rpi3(&mut self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        if self.opts.arch != "arm64" {
            return Err(OutputError::Image {
                format: f.name().into(),
                message: format!(
                    "a Raspberry Pi 3 boots arm64 images; this one is built for {}: build with \
                     --arch arm64",
                    self.opts.arch
                ),
            });
        }
        let (boot, gz) = self.initrd.as_mut().ok_or_else(|| unsupported(f))?;
        if boot.kernel.is_empty() {
            return Err(no_kernel(f));
        }
        let dtbs = rpi3::device_trees((self.open)()?, self.rootfs_tar)?;
        let gz_path = gz.path().to_path_buf();
        let gz_file = gz.as_file_mut();
        io::Seek::seek(gz_file, io::SeekFrom::Start(0)).map_err(|source| OutputError::Read {
            path: gz_path,
            source,
        })?;
        let i = staging.create(&f.file_name(self.name))?;
        let s = staging.get(i);
        let path = s.tmp_path().to_path_buf();
        let mut w = io::BufWriter::new(s.file());
        rpi3::write(&mut w, &boot.kernel, gz_file, &dtbs)?;
        io::Write::flush(&mut w).map_err(|source| OutputError::Write { path, source })
    }

    /// `raw-efi`/`qcow2-efi`: a GPT disk whose ESP holds the UKI (and systemd-boot when the
    /// disk is updatable); with `--verity` the UKI boots the root loader, which opens the
    /// squashfs root partition through dm-verity, otherwise the whole root is the UKI's initrd.
    fn efi_disk(&mut self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let opts = self.opts;
        let stub = efi_stub(f, opts)?;
        let signing = opts.signing.as_deref();
        let seed = self.seed();
        let mut loader_file;
        let uki_boot;
        let verity_loader = match &self.verity_root {
            Some(_) => {
                let (_, boot) = self.tree(f)?;
                if boot.kernel.is_empty() {
                    return Err(no_kernel(f));
                }
                // With the verity helper there always is a loader.
                self.loader(f, RootDevice::Disk, true)?.unwrap_or_default()
            }
            None => Vec::new(),
        };
        let (mut uki, root) = match &mut self.verity_root {
            Some(v) => {
                let (_, boot) = self.tree.as_ref().ok_or_else(|| unsupported(f))?;
                let loader = verity_loader;
                loader_file = staging.scratch("rootloader")?;
                let path = loader_file.path().to_path_buf();
                io::Write::write_all(loader_file.as_file_mut(), &loader)
                    .map_err(|source| OutputError::Write { path, source })?;
                let label = v.partition_label();
                let root = format!("PARTLABEL={label}");
                uki_boot = uki_kernel(f, &stub, boot)?;
                let cmdline = verity::with_params(&with_root(&uki_boot.cmdline, &root), &v.params);
                let payload = efi::Payload {
                    boot: &uki_boot,
                    initrd_gz: loader_file.as_file_mut(),
                    cmdline: format!("{cmdline} text"),
                };
                let uki = efi::Uki::new(stub, payload, signing, f)?;
                let root = efi::RootPartition {
                    name: label,
                    image: v.file.as_file_mut(),
                };
                (uki, Some(root))
            }
            None => {
                let (boot, gz) = self.initrd.as_mut().ok_or_else(|| unsupported(f))?;
                if boot.kernel.is_empty() {
                    return Err(no_kernel(f));
                }
                uki_boot = uki_kernel(f, &stub, boot)?;
                let payload = efi::Payload {
                    boot: &uki_boot,
                    initrd_gz: gz.as_file_mut(),
                    cmdline: abdisk::cmdline(
                        format!("{} text", uki_boot.cmdline),
                        opts.update.as_ref(),
                    ),
                };
                (efi::Uki::new(stub, payload, signing, f)?, None)
            }
        };
        // An updatable disk boots systemd-boot (signed like the UKI).
        let loader = match &opts.update {
            Some(_) => Some(abdisk::boot_manager(f, signing)?),
            None => None,
        };
        let update = opts.update.as_ref().zip(loader.as_deref());
        if f == Format::RawEfi {
            let i = staging.create(&f.file_name(self.name))?;
            let s = staging.get(i);
            abdisk::write_disk(s.file(), &mut uki, root, &seed, update).map_err(|e| s.err(e))?;
            return Ok(());
        }
        let mut raw = staging.scratch("efi.img")?;
        abdisk::write_disk(raw.as_file_mut(), &mut uki, root, &seed, update).map_err(|source| {
            OutputError::Write {
                path: raw.path().to_path_buf(),
                source,
            }
        })?;
        let i = staging.create(&f.file_name(self.name))?;
        let out = staging.get(i).tmp_path().to_path_buf();
        convert::qemu_img(f, raw.path(), &out, "qcow2", None)
    }

    /// `iso-bios`: ISOLINUX boots the kernel (and the root loader when the kernel needs one)
    /// with the root on the CD; a hybrid MBR makes the ISO bootable from a disk too.
    fn iso_bios(&self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let (t, boot) = self.tree(f)?;
        if boot.kernel.is_empty() {
            return Err(no_kernel(f));
        }
        bootfiles::check_bios_arch(&self.opts.arch, f)?;
        let loader = self.loader(f, RootDevice::Cdrom, false)?;
        let cfg = format!(
            "DEFAULT linux\nLABEL linux\n    KERNEL /boot/kernel\n{}    APPEND {}\n",
            if loader.is_some() {
                "    INITRD /boot/initrd.img\n"
            } else {
                ""
            },
            with_root(&boot.cmdline, "/dev/sr0")
        );
        let mut extras = vec![
            iso::Extra::bytes("boot/kernel", boot.kernel.clone()),
            iso::Extra::bytes("isolinux/isolinux.bin", bootfiles::ISOLINUX_BIN.read(f)?),
            iso::Extra::bytes("isolinux/ldlinux.c32", bootfiles::LDLINUX_C32.read(f)?),
            iso::Extra::bytes("isolinux/isolinux.cfg", cfg.into_bytes()),
        ];
        if let Some(loader) = loader {
            extras.push(iso::Extra::bytes("boot/initrd.img", loader));
        }
        let boot = iso::Boot::Bios {
            boot_image: "isolinux/isolinux.bin".into(),
            mbr: bootfiles::ISOHDPFX.read(f)?,
        };
        let i = staging.create(&f.file_name(self.name))?;
        let s = staging.get(i);
        iso::write(s.file(), Some(t), extras, boot).map_err(|e| s.err(e))
    }

    /// `iso-efi` (the kernel alone in the UKI, root on the CD, as upstream; no ucode) and
    /// `iso-efi-initrd` (the whole root as the UKI's initrd): an El Torito EFI image holding
    /// the UKI.
    fn iso_efi(&mut self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let stub = efi_stub(f, self.opts)?;
        let seed = self.seed();
        let mut empty;
        let (boot, gz, cmdline, t) = if f == Format::IsoEfi {
            let loader = self.loader(f, RootDevice::Cdrom, false)?;
            let (t, boot) = self.tree.as_ref().ok_or_else(|| unsupported(f))?;
            let cmdline = with_root(&boot.cmdline, "/dev/sr0");
            // The UKI's initrd is the root loader, when the kernel needs one.
            empty = staging.scratch("empty")?;
            if let Some(loader) = loader {
                let path = empty.path().to_path_buf();
                io::Write::write_all(empty.as_file_mut(), &loader)
                    .map_err(|source| OutputError::Write { path, source })?;
            }
            (boot, empty.as_file_mut(), cmdline, Some(t))
        } else {
            let (boot, gz) = self.initrd.as_mut().ok_or_else(|| unsupported(f))?;
            let cmdline = boot.cmdline.clone();
            (&*boot, gz.as_file_mut(), cmdline, None)
        };
        if boot.kernel.is_empty() {
            return Err(no_kernel(f));
        }
        let mut boot = uki_kernel(f, &stub, boot)?;
        if f == Format::IsoEfi {
            boot.ucode = Vec::new();
        }
        let payload = efi::Payload {
            boot: &boot,
            initrd_gz: gz,
            cmdline: format!("{cmdline} text"),
        };
        let mut uki = efi::Uki::new(stub, payload, self.opts.signing.as_deref(), f)?;
        let mut fat = staging.scratch("efiboot.img")?;
        let fat_path = fat.path().to_path_buf();
        let fat_err = |source| OutputError::Write {
            path: fat_path.clone(),
            source,
        };
        let fat_len = disk::fat_size(uki.len().map_err(fat_err)?);
        fat.as_file_mut().set_len(fat_len).map_err(fat_err)?;
        efi::write_esp(fat.as_file_mut(), &mut uki, &seed).map_err(fat_err)?;
        let extras = vec![iso::Extra {
            path: "EFI/BOOT/efiboot.img".into(),
            len: fat_len,
            open: std::sync::Arc::new(move || {
                Ok(Box::new(File::open(&fat_path)?) as Box<dyn io::Read + Send>)
            }),
        }];
        let boot = iso::Boot::Efi {
            boot_image: "EFI/BOOT/efiboot.img".into(),
        };
        let i = staging.create(&f.file_name(self.name))?;
        let s = staging.get(i);
        iso::write(s.file(), t, extras, boot).map_err(|e| s.err(e))?;
        drop(fat);
        Ok(())
    }

    /// `raw-bios` and `aws` (an MBR disk with a FAT partition and SYSLINUX), and the formats
    /// converted from it: `qcow2-bios`, `vhd`, `dynamic-vhd`, `vmdk`, `gcp`.
    fn bios_disk(&mut self, f: Format, staging: &mut Staging) -> Result<(), OutputError> {
        let seed = self.seed();
        let (boot, gz) = self.initrd.as_mut().ok_or_else(|| unsupported(f))?;
        if boot.kernel.is_empty() {
            return Err(no_kernel(f));
        }
        bootfiles::check_bios_arch(&self.opts.arch, f)?;
        let mut payload = efi::Payload {
            boot,
            initrd_gz: gz.as_file_mut(),
            cmdline: boot.cmdline.clone(),
        };
        // `--size` applies to the formats upstream builds in a VM.
        let min_len = match f {
            Format::Aws | Format::Qcow2Bios => self.opts.size_mib * disk::MIB,
            _ => 0,
        };
        let file_name = f.file_name(self.name);
        if matches!(f, Format::RawBios | Format::Aws) {
            let i = staging.create(&file_name)?;
            let s = staging.get(i);
            let path = s.tmp_path().to_path_buf();
            bios::write_raw_bios(f, s.file(), &path, &mut payload, min_len, &seed)?;
            return Ok(());
        }
        let mut raw = staging.scratch("bios.img")?;
        let raw_path = raw.path().to_path_buf();
        let len = bios::write_raw_bios(
            f,
            raw.as_file_mut(),
            &raw_path,
            &mut payload,
            min_len,
            &seed,
        )?;
        let i = staging.create(&file_name)?;
        let s = staging.get(i);
        let out = s.tmp_path().to_path_buf();
        match f {
            Format::Gcp => bios::write_gcp(&raw_path, len, s.file()).map_err(|e| s.err(e))?,
            Format::Qcow2Bios => convert::qemu_img(f, &raw_path, &out, "qcow2", None)?,
            Format::Vhd => convert::qemu_img(
                f,
                &raw_path,
                &out,
                "vpc",
                Some("subformat=fixed,force_size=on"),
            )?,
            Format::DynamicVhd => {
                convert::qemu_img(f, &raw_path, &out, "vpc", Some("subformat=dynamic"))?
            }
            _ => convert::qemu_img(f, &raw_path, &out, "vmdk", None)?,
        }
        convert::make_reproducible(f, &out, &file_name, &seed)
    }
}
