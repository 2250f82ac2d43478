//! The macros used only through `linuxkit_dsl`'s re-export, by full path, in a definition target
//! whose `main` is `linuxkit_dsl::main!`: the expansions name nothing that the re-export breaks.

#[linuxkit_dsl::image]
fn getty() -> linuxkit_dsl::Image {
    linuxkit_dsl::Image::new(linuxkit_dsl::Kernel::new(linuxkit_dsl::image_ref!("linuxkit/kernel:6.12.59")))
        .init([linuxkit_dsl::image_ref!("linuxkit/init:b5506cc7")])
        .volume(linuxkit_dsl::Volume::new("logs"))
        .service(
            linuxkit_dsl::Container::new("getty", linuxkit_dsl::image_ref!("linuxkit/getty:a86d74c8"))
                .bind(linuxkit_dsl::bind!("logs:/var/log"))
                .tmpfs(linuxkit_dsl::tmpfs!("/tmp"))
                .cwd(linuxkit_dsl::path!("/")),
        )
        .file(linuxkit_dsl::File::new("/etc/issue").contents("welcome\n").mode(linuxkit_dsl::mode!("0644")))
}

linuxkit_dsl::main!(getty);
