use linuxkit_dsl::{pkgs, Container, Image, Namespace};

use crate::base::*;

/// A redis server (`redis-os.yml`, used at DockerCon'17): connect with `nc localhost 6379`.
#[linuxkit_dsl::image]
pub fn redis_os() -> Image {
    minimal_base(CMDLINE_S390)
        .onboot(pkgs::dhcpcd().once())
        .service(pkgs::getty().insecure())
        // redis:4.0.6-alpine had a multi-arch trust issue upstream, hence 4.0.5.
        .service(
            Container::new("redis", "redis:4.0.5-alpine")
                .capabilities(NGINX_CAPABILITIES)
                .net(Namespace::Host),
        )
}
