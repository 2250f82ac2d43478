//! `#[image]`: checks of a whole image definition, read from the builder chain of its body.
//!
//! The attribute reads the syntax tree only; it cannot evaluate anything. It knows a fact when
//! it is written as a literal in the body (directly, or through a `let` of the same function)
//! and skips a rule when a fact it needs is computed (a container made by a helper function,
//! for example); `cargo linuxkit check` covers those at run time.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{
    Expr, ExprCall, ExprMethodCall, Item, ItemFn, Lit, LitStr, Local, Macro, Pat, ReturnType, Token,
};

use crate::literal::{integer_mode, Check, STRING_MACROS};
use linuxkit_validate as v;

/// Expands `#[image] fn name() -> Image { .. }`: the function unchanged, preceded by one
/// `compile_error!` per problem found.
pub(crate) fn image(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new_spanned(
            &attr,
            "#[image] takes no arguments",
        ));
    }
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => {
            signature(&function, &mut errors);
            errors.extend(Definition::run(&function));
        }
        Ok(other) => errors.push(syn::Error::new_spanned(
            other,
            "#[image] goes on a function that returns an image, such as `fn sshd() -> Image { .. }`",
        )),
        // rustc reports the syntax error itself; keep the item as it is.
        Err(_) => {}
    }
    let errors = errors.iter().map(syn::Error::to_compile_error);
    let tracking = crate::locked::tracking();
    quote!(#(#errors)* #tracking #item)
}

/// The function must be callable as `name()` by `linuxkit_dsl::main!`.
fn signature(function: &ItemFn, errors: &mut Vec<syn::Error>) {
    let sig = &function.sig;
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "an #[image] function takes no arguments: linuxkit_dsl::main! calls it as `name()`",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "an #[image] function cannot be generic",
        ));
    }
    if let Some(asyncness) = &sig.asyncness {
        errors.push(syn::Error::new_spanned(
            asyncness,
            "an #[image] function cannot be async",
        ));
    }
    if matches!(sig.output, ReturnType::Default) {
        errors.push(syn::Error::new_spanned(
            &sig.ident,
            "an #[image] function must return linuxkit_dsl::Image (or Result<Image, E>)",
        ));
    }
}

/// A name written as a literal, and where.
struct Named {
    name: String,
    span: Span,
}

/// A volume added with `.volume(Volume::new("name")...)`.
struct VolumeDef {
    name: Named,
    readonly: bool,
}

/// A bind whose source is a volume name.
struct VolumeBind {
    volume: String,
    span: Span,
    /// The bind text and its options, for the read-only rule; `None` for `Mount::bind`.
    bind: Option<(String, Option<String>)>,
}

/// What the body says, gathered in one walk, then checked by [`Definition::rules`].
struct Definition {
    errors: Vec<syn::Error>,
    /// `let name = expr;` bindings of the body; `None` when a name is bound more than once.
    locals: HashMap<String, Option<Expr>>,
    services: Vec<Named>,
    /// Names of every onboot, onshutdown and service container.
    containers: Vec<Named>,
    /// False once a container was added whose name is not a literal.
    containers_known: bool,
    volumes: Vec<VolumeDef>,
    /// False once a volume was added whose name is not a literal.
    volumes_known: bool,
    volume_binds: Vec<VolumeBind>,
    /// `.uid("name")`, `.gid("name")`, `.additional_gid("name")`.
    id_names: Vec<Named>,
}

/// The root of a builder chain: `Type::function(first, ..)` and the methods called on it.
struct Chain {
    ty: String,
    function: String,
    first: Option<LitStr>,
    methods: Vec<String>,
}

/// How deep `let` bindings are followed.
const MAX_DEPTH: usize = 8;

impl Definition {
    fn run(function: &ItemFn) -> Vec<syn::Error> {
        let mut locals = Locals::default();
        locals.visit_block(&function.block);
        let mut definition = Definition {
            errors: Vec::new(),
            locals: locals.0,
            services: Vec::new(),
            containers: Vec::new(),
            containers_known: true,
            volumes: Vec::new(),
            volumes_known: true,
            volume_binds: Vec::new(),
            id_names: Vec::new(),
        };
        definition.visit_block(&function.block);
        definition.rules();
        definition.errors
    }

    /// The whole-definition rules.
    fn rules(&mut self) {
        duplicates(&self.services, "service", &mut self.errors);
        let volume_names: Vec<Named> = self
            .volumes
            .iter()
            .map(|v| Named {
                name: v.name.name.clone(),
                span: v.name.span,
            })
            .collect();
        duplicates(&volume_names, "volume", &mut self.errors);
        for bind in &self.volume_binds {
            let volume = self.volumes.iter().find(|v| v.name.name == bind.volume);
            match (volume, &bind.bind) {
                (None, _) if self.volumes_known => self.errors.push(syn::Error::new(
                    bind.span,
                    format!(
                        "bind source {0:?} is not an absolute path and this image defines no volume {0:?}: add .volume(Volume::new({0:?})) or bind an absolute host path",
                        bind.volume
                    ),
                )),
                (Some(volume), Some((text, options))) if volume.readonly && options.as_deref() != Some("ro") => {
                    self.errors.push(syn::Error::new(
                        bind.span,
                        format!("volume {:?} is read-only: bind it with the option \"ro\", such as {:?}", bind.volume, ro_bind(text)),
                    ))
                }
                _ => {}
            }
        }
        if self.containers_known {
            for id in &self.id_names {
                if id.name.is_empty()
                    || id.name == "root"
                    || self.containers.iter().any(|c| c.name == id.name)
                {
                    continue;
                }
                self.errors.push(syn::Error::new(
                    id.span,
                    format!(
                        "uid/gid name {:?} is not a container of this image: a name stands for that container's id (\"root\" is 0); write a number for a fixed id",
                        id.name
                    ),
                ));
            }
        }
    }

    /// Checks one builder method call.
    fn method(&mut self, call: &ExprMethodCall) {
        let Some(arg) = call.args.first() else { return };
        let each = |this: &mut Self, check: Check| {
            for element in elements(arg) {
                this.string(&element, check);
            }
        };
        match call.method.to_string().as_str() {
            "service" => self.container(arg, true),
            "onboot" | "onshutdown" => self.container(arg, false),
            "volume" => self.volume(arg),
            "bind" | "add_bind" => self.bind(arg),
            "binds" | "add_binds" => elements(arg).iter().for_each(|e| self.bind(e)),
            "tmpfs" => self.check(arg, v::tmpfs),
            "tmpfs_mounts" => each(self, v::tmpfs),
            "cwd" | "masked_path" | "readonly_path" => self.check(arg, v::absolute_path),
            "masked_paths" | "readonly_paths" => each(self, v::absolute_path),
            "env" => self.check(arg, v::env_var),
            "environment" => each(self, v::env_var),
            "env_var" => self.check(arg, v::env_name),
            "sysctl" => self.check(arg, v::sysctl_key),
            "sysctls" => {
                for element in elements(arg) {
                    if let Expr::Tuple(tuple) = &element {
                        if let Some(key) = tuple.elems.first() {
                            self.string(key, v::sysctl_key);
                        }
                    }
                }
            }
            "init" => each(self, crate::locked::image_source),
            "image" => self.check(arg, crate::locked::image_source),
            "mode" => {
                if let Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(int), ..
                }) = arg
                {
                    if let Err(message) = integer_mode(int, false) {
                        self.errors.push(syn::Error::new(int.span(), message));
                    }
                }
            }
            "mode_str" => self.check(arg, v::octal_mode),
            "option" => self.check(arg, v::mount_options),
            "options" => each(self, v::mount_options),
            "capability_names" | "add_capability_names" | "ambient_names" => {
                self.capability_names(arg)
            }
            "rlimits" => each(self, v::rlimit),
            "uid" | "gid" | "additional_gid" => self.id_name(arg),
            "additional_gids" => elements(arg).iter().for_each(|e| self.id_name(e)),
            other => self.opaque(other),
        }
    }

    /// Notes a call or field that can bring in containers or volumes the walk cannot see
    /// (an image read from YAML, merged, or edited through its fields): the rules that need
    /// the full list of names are then skipped.
    fn opaque(&mut self, name: &str) {
        match name {
            "volumes" => self.volumes_known = false,
            "services" | "onboot" | "onshutdown" => self.containers_known = false,
            "merge" | "merge_with_origins" | "from_yaml_str" | "from_yaml" | "from_str" => {
                self.volumes_known = false;
                self.containers_known = false;
            }
            _ => {}
        }
    }

    /// Checks one `Type::function(..)` call.
    fn call(&mut self, call: &ExprCall) {
        let Some((ty, function)) = type_function(&call.func) else {
            return;
        };
        let args: Vec<&Expr> = call.args.iter().collect();
        match (ty.as_str(), function.as_str(), &args[..]) {
            ("Container", "new", [_, image, ..]) => self.check(image, crate::locked::image_source),
            ("Kernel", "new", [image, ..]) => self.check(image, crate::locked::image_source),
            ("Volume", "new", [name, ..]) => self.check(name, v::volume_name),
            // Where updates come from: a moving tag by design, so never required in the lock.
            ("Update", "from", [source]) => self.check(source, v::image_reference),
            ("File", "new", [path, ..]) => self.check(path, v::file_path),
            ("Mount", "tmpfs", [destination, ..]) => self.check(destination, v::absolute_path),
            ("Mount", "bind", [source, destination, ..]) => {
                let source_check: Check = |s| match s.starts_with('/') {
                    true => v::absolute_path(s),
                    false => v::volume_name(s).map_err(|e| {
                        format!("bind source is not an absolute path, so it names a volume: {e}")
                    }),
                };
                if let Some(source) = self.string(source, source_check) {
                    if !source.value().starts_with('/') && v::volume_name(&source.value()).is_ok() {
                        self.volume_binds.push(VolumeBind {
                            volume: source.value(),
                            span: source.span(),
                            bind: None,
                        });
                    }
                }
                self.string(destination, v::absolute_path);
            }
            _ => {}
        }
    }

    /// A list of capability names: each is checked, and `all` / `none` must stand alone.
    fn capability_names(&mut self, arg: &Expr) {
        let literals: Vec<(LitStr, bool)> = elements(arg)
            .iter()
            .filter_map(|e| self.literal(e, 0))
            .collect();
        for (lit, here) in &literals {
            if *here {
                if let Err(message) = v::capability(&lit.value()) {
                    self.errors.push(syn::Error::new(lit.span(), message));
                }
            }
        }
        let names: Vec<String> = literals.iter().map(|(lit, _)| lit.value()).collect();
        if let Err((i, message)) = v::capability_list(&names) {
            let (lit, here) = &literals[i];
            // Unknown names were reported just above (or by their own macro).
            if *here && v::capability(&lit.value()).is_ok() {
                self.errors.push(syn::Error::new(lit.span(), message));
            }
        }
    }

    /// A container added to a section.
    fn container(&mut self, expr: &Expr, service: bool) {
        match self.chain(expr, 0) {
            Some(Chain {
                ty,
                function,
                first: Some(name),
                ..
            }) if ty == "Container" && function == "new" => {
                let named = || Named {
                    name: name.value(),
                    span: name.span(),
                };
                if service {
                    self.services.push(named());
                }
                self.containers.push(named());
            }
            _ => self.containers_known = false,
        }
    }

    /// A volume added to the image.
    fn volume(&mut self, expr: &Expr) {
        match self.chain(expr, 0) {
            Some(Chain {
                ty,
                function,
                first: Some(name),
                methods,
            }) if ty == "Volume" && function == "new" => self.volumes.push(VolumeDef {
                name: Named {
                    name: name.value(),
                    span: name.span(),
                },
                readonly: methods.iter().any(|m| m == "readonly"),
            }),
            _ => self.volumes_known = false,
        }
    }

    /// A bind string given to a container.
    fn bind(&mut self, expr: &Expr) {
        let Some(lit) = self.string(expr, v::bind) else {
            return;
        };
        let text = lit.value();
        if let Ok(spec) = v::parse_bind(&text) {
            if let Some(volume) = spec.volume() {
                self.volume_binds.push(VolumeBind {
                    volume: volume.to_string(),
                    span: lit.span(),
                    bind: Some((text.clone(), spec.options.map(str::to_string))),
                });
            }
        }
    }

    /// A uid or gid given as a name.
    fn id_name(&mut self, expr: &Expr) {
        if let Some((lit, _)) = self.literal(expr, 0) {
            self.id_names.push(Named {
                name: lit.value(),
                span: lit.span(),
            });
        }
    }

    /// Checks the string literal `expr` stands for, if any (see [`Definition::string`]).
    fn check(&mut self, expr: &Expr, check: Check) {
        self.string(expr, check);
    }

    /// The string literal `expr` stands for, checked with `check` when it is written right
    /// there (a literal reached through a `let`, or inside one of this crate's macros, is
    /// checked where it is written).
    fn string(&mut self, expr: &Expr, check: Check) -> Option<LitStr> {
        let (lit, here) = self.literal(expr, 0)?;
        if here {
            if let Err(message) = check(&lit.value()) {
                self.errors.push(syn::Error::new(lit.span(), message));
            }
        }
        Some(lit)
    }

    /// The string literal `expr` stands for, and whether it is written in `expr` itself.
    fn literal(&self, expr: &Expr, depth: usize) -> Option<(LitStr, bool)> {
        match expr {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(lit), ..
            }) => Some((lit.clone(), depth == 0)),
            Expr::Paren(e) => self.literal(&e.expr, depth),
            Expr::Group(e) => self.literal(&e.expr, depth),
            Expr::Reference(e) => self.literal(&e.expr, depth),
            Expr::MethodCall(m) if m.args.is_empty() && is_conversion(&m.method.to_string()) => {
                self.literal(&m.receiver, depth)
            }
            Expr::Call(c)
                if c.args.len() == 1
                    && type_function(&c.func)
                        .is_some_and(|(t, f)| t == "String" && f == "from") =>
            {
                self.literal(&c.args[0], depth)
            }
            Expr::Macro(m) if is_string_macro(&m.mac) => {
                Some((m.mac.parse_body::<LitStr>().ok()?, false))
            }
            Expr::Path(p) if depth < MAX_DEPTH => {
                let local = self
                    .locals
                    .get(&p.path.get_ident()?.to_string())?
                    .as_ref()?;
                self.literal(local, depth + 1)
            }
            _ => None,
        }
    }

    /// The root of the builder chain `expr` (following `let` bindings).
    fn chain(&self, expr: &Expr, depth: usize) -> Option<Chain> {
        match expr {
            Expr::MethodCall(m) => {
                let mut chain = self.chain(&m.receiver, depth)?;
                chain.methods.push(m.method.to_string());
                Some(chain)
            }
            Expr::Paren(e) => self.chain(&e.expr, depth),
            Expr::Group(e) => self.chain(&e.expr, depth),
            Expr::Call(c) => {
                let (ty, function) = type_function(&c.func)?;
                let first = c
                    .args
                    .first()
                    .and_then(|a| self.literal(a, depth))
                    .map(|(lit, _)| lit);
                Some(Chain {
                    ty,
                    function,
                    first,
                    methods: Vec::new(),
                })
            }
            Expr::Path(p) if depth < MAX_DEPTH => {
                let local = self
                    .locals
                    .get(&p.path.get_ident()?.to_string())?
                    .as_ref()?;
                self.chain(local, depth + 1)
            }
            _ => None,
        }
    }
}

impl<'ast> Visit<'ast> for Definition {
    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        // Source order: in `a.f(x).g(y)` the outer call is `.g`, but `a` and `.f` come first.
        self.visit_expr(&call.receiver);
        self.method(call);
        call.args.iter().for_each(|arg| self.visit_expr(arg));
    }

    fn visit_expr_call(&mut self, call: &'ast ExprCall) {
        self.call(call);
        if let Expr::Path(path) = &*call.func {
            if let Some(last) = path.path.segments.last() {
                self.opaque(&last.ident.to_string());
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_member(&mut self, member: &'ast syn::Member) {
        if let syn::Member::Named(name) = member {
            self.opaque(&name.to_string());
        }
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        // `vec![..]` holds expressions worth walking; other macros are opaque.
        if mac.path.is_ident("vec") {
            if let Ok(items) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            {
                items.iter().for_each(|e| self.visit_expr(e));
            }
        }
    }
}

/// Collects the `let name = expr;` bindings of a body.
#[derive(Default)]
struct Locals(HashMap<String, Option<Expr>>);

impl<'ast> Visit<'ast> for Locals {
    fn visit_local(&mut self, local: &'ast Local) {
        let pat = match &local.pat {
            Pat::Type(typed) => &*typed.pat,
            pat => pat,
        };
        if let (Pat::Ident(ident), Some(init)) = (pat, &local.init) {
            let name = ident.ident.to_string();
            let value = (!self.0.contains_key(&name)).then(|| (*init.expr).clone());
            self.0.insert(name, value);
        }
        visit::visit_local(self, local);
    }
}

/// One error per repeated name, on the repetition.
fn duplicates(items: &[Named], what: &str, errors: &mut Vec<syn::Error>) {
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|earlier| earlier.name == item.name) {
            errors.push(syn::Error::new(
                item.span,
                format!("duplicate {what} name {:?}: another {what} of this image already has this name", item.name),
            ));
        }
    }
}

/// `src:dst[:opts]` rewritten with the options `ro`.
fn ro_bind(text: &str) -> String {
    let mut parts: Vec<&str> = text.splitn(3, ':').take(2).collect();
    parts.push("ro");
    parts.join(":")
}

/// The elements of a list argument: `[a, b]`, `&[a, b]`, `vec![a, b]`; anything else is one
/// element.
fn elements(expr: &Expr) -> Vec<Expr> {
    match expr {
        Expr::Array(array) => array.elems.iter().cloned().collect(),
        Expr::Reference(e) => elements(&e.expr),
        Expr::Paren(e) => elements(&e.expr),
        Expr::Macro(m) if m.mac.path.is_ident("vec") => m
            .mac
            .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            .map(|items| items.into_iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `Type::function` (any path prefix) of a call.
fn type_function(func: &Expr) -> Option<(String, String)> {
    let Expr::Path(path) = func else { return None };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match &segments[..] {
        [.., ty, function] => Some((ty.clone(), function.clone())),
        _ => None,
    }
}

/// Methods that turn a literal into a `String` without changing it.
fn is_conversion(method: &str) -> bool {
    matches!(method, "to_string" | "to_owned" | "into" | "clone")
}

/// One of this crate's string macros (`bind!("..")`, `image_ref!("..")`, ...).
fn is_string_macro(mac: &Macro) -> bool {
    mac.path
        .segments
        .last()
        .is_some_and(|s| STRING_MACROS.contains(&s.ident.to_string().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn messages(function: ItemFn) -> Vec<String> {
        Definition::run(&function)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn follows_let_bindings_and_vec() {
        let errors = messages(parse_quote! {
            fn f() -> Image {
                let name = "web";
                let web = Container::new(name, "nginx:1.27");
                let logs = "logs:/var/log";
                Image::new(Kernel::new("k:1"))
                    .service(web)
                    .service(Container::new("web", "nginx:1.27").binds(vec![logs, "/a:/a"]))
            }
        });
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("duplicate service name \"web\""));
        assert!(errors[1].starts_with("bind source \"logs\" is not an absolute path"));
    }

    #[test]
    fn skips_rules_whose_facts_are_computed() {
        // The volume comes from a helper and the image is merged with YAML: no rule may guess.
        let errors = messages(parse_quote! {
            fn f() -> Image {
                let base = from_yaml_str(include_str!("base.yml"), "base.yml").unwrap();
                merge(vec![base, Image::new(Kernel::new("k:1"))
                    .volume(shared_volume())
                    .service(helper().uid("someone"))
                    .service(Container::new("x", "x:1").bind("data:/data"))])
            }
        });
        assert_eq!(errors, Vec::<String>::new());
    }

    #[test]
    fn ids_resolve_against_every_section() {
        let errors = messages(parse_quote! {
            fn f() -> Image {
                Image::new(Kernel::new("k:1"))
                    .onboot(Container::new("setup", "alpine:3.20"))
                    .onshutdown(Container::new("stop", "alpine:3.20"))
                    .service(Container::new("svc", "alpine:3.20").uid("setup").gid("stop").additional_gids(["svc", "root", "", 5]))
                    .service(Container::new("other", "alpine:3.20").uid("nobody"))
            }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("uid/gid name \"nobody\""));
    }

    #[test]
    fn literals_inside_macros_and_lets_are_not_checked_twice() {
        // `bind!` checks its own literal; a literal reached through a `let` is only used for
        // whole-definition facts, so each problem is reported once.
        let errors = messages(parse_quote! {
            fn f() -> Image {
                let bad = "Bad/Ref";
                Image::new(Kernel::new(image_ref!("Also/Bad")))
                    .service(Container::new("a", bad).bind(bind!("nosuch:/x")))
            }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("bind source \"nosuch\""));
    }

    #[test]
    fn readonly_volume_and_mount_binds() {
        let errors = messages(parse_quote! {
            fn f() -> Image {
                Image::new(Kernel::new("k:1"))
                    .volume(Volume::new("ro").readonly())
                    .service(Container::new("a", "a:1")
                        .bind("ro:/x:ro")
                        .bind("ro:/y:rw")
                        .mount(Mount::bind("ro", "/z"))
                        .mount(Mount::bind("Bad", "/z")))
            }
        });
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with(
            "bind source is not an absolute path, so it names a volume: invalid volume name"
        ));
        assert_eq!(
            errors[1],
            "volume \"ro\" is read-only: bind it with the option \"ro\", such as \"ro:/y:ro\""
        );
    }

    #[test]
    fn ro_bind_keeps_source_and_destination() {
        assert_eq!(ro_bind("v:/x"), "v:/x:ro");
        assert_eq!(ro_bind("v:/x:rw,nosuid"), "v:/x:ro");
    }
}
