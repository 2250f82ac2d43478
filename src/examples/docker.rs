use linuxkit_dsl::{pkgs, Container, File, Image, Mount, MountType, Namespace};

use crate::base::*;

/// Docker-in-LinuxKit (`docker.yml`): dockerd with every capability, its data on a disk.
#[linuxkit_dsl::image]
pub fn docker() -> Image {
    linuxkit_base(CMDLINE_S390)
        .onboot(pkgs::sysctl())
        .onboot(pkgs::sysfs())
        .onboot(pkgs::format())
        .onboot(pkgs::mount("/var/lib/docker"))
        .service(pkgs::getty().insecure())
        .service(pkgs::rngd())
        .service(pkgs::dhcpcd())
        .service(pkgs::openntpd())
        .service(
            Container::new("docker", "docker:20.10.6-dind")
                .all_capabilities()
                .net(Namespace::Host)
                .mount(
                    Mount::new(MountType::Cgroup)
                        .options(["rw", "nosuid", "noexec", "nodev", "relatime"]),
                )
                .bind("/etc/resolv.conf:/etc/resolv.conf")
                .bind("/var/lib/docker:/var/lib/docker")
                .bind("/lib/modules:/lib/modules")
                .bind("/etc/docker/daemon.json:/etc/docker/daemon.json")
                .command(["/usr/local/bin/docker-init", "/usr/local/bin/dockerd"]),
        )
        .file(File::new("var/lib/docker").directory())
        .file(File::new("etc/docker/daemon.json").contents(r#"{"debug": true}"#))
}
