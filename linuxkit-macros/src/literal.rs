//! Function-like macros that check one literal and expand to it unchanged.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Lit, LitInt, LitStr};

/// A check of the text of a string literal.
pub(crate) type Check = fn(&str) -> Result<(), String>;

/// Expands `name!("text")` to `"text"` when `check` accepts it. On error the literal is still
/// emitted after the `compile_error!`, so the expression keeps its type for the IDE.
pub(crate) fn checked_str(
    input: TokenStream,
    name: &str,
    example: &str,
    check: Check,
) -> TokenStream {
    match syn::parse2::<LitStr>(input.clone()) {
        Ok(lit) => match check(&lit.value()) {
            Ok(()) => lit.into_token_stream(),
            Err(message) => with_error(
                syn::Error::new(lit.span(), message),
                lit.into_token_stream(),
            ),
        },
        Err(_) => {
            let message =
                format!("{name}! expects one string literal, such as {name}!({example:?})");
            let fallback = if input.is_empty() {
                quote!("")
            } else {
                input.clone()
            };
            with_error(spanned_error(&input, message), fallback)
        }
    }
}

/// `mode!("0644")` or `mode!(0o644)`: a file mode, expanded to a `u32` literal.
pub(crate) fn mode(input: TokenStream) -> TokenStream {
    let lit = match syn::parse2::<Lit>(input.clone()) {
        Ok(lit) => lit,
        Err(_) => {
            let message = "mode! expects a string such as mode!(\"0644\") or an octal integer such as mode!(0o644)";
            return with_error(spanned_error(&input, message.into()), quote!(0u32));
        }
    };
    let span = lit.span();
    let value = match &lit {
        Lit::Str(s) => linuxkit_validate::parse_octal_mode(&s.value()),
        Lit::Int(i) => integer_mode(i, true),
        other => Err(format!(
            "mode! expects a string such as \"0644\" or an octal integer such as 0o644, got {}",
            other.to_token_stream()
        )),
    };
    match value {
        Ok(value) => LitInt::new(&format!("0o{value:o}u32"), span).into_token_stream(),
        Err(message) => with_error(syn::Error::new(span, message), quote!(0u32)),
    }
}

/// Checks an integer literal used as a file mode. A decimal literal with a leading zero
/// (`0644`) is always refused: it is the decimal number 644 in Rust; so is a decimal literal
/// made of octal digits whose value sets the setuid/setgid/sticky bits (`644` is 0o1204). With
/// `strict`, any decimal literal above 7 is refused (modes are written in octal).
pub(crate) fn integer_mode(lit: &LitInt, strict: bool) -> Result<u32, String> {
    let text = lit.to_string();
    let digits = text
        .strip_suffix(lit.suffix())
        .unwrap_or(&text)
        .replace('_', "");
    if !matches!(lit.suffix(), "" | "u32") {
        return Err(format!(
            "a file mode is a u32, not {}: write it as 0o644",
            lit.suffix()
        ));
    }
    let value: u64 = lit
        .base10_parse()
        .map_err(|e| format!("file mode {digits} is not a number: {e}"))?;
    let decimal =
        !digits.starts_with("0o") && !digits.starts_with("0x") && !digits.starts_with("0b");
    let octal_looking = digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if decimal && digits.len() > 1 && digits.starts_with('0') {
        let hint = if octal_looking {
            format!(
                ": write 0o{} or \"{digits}\"",
                digits.trim_start_matches('0')
            )
        } else {
            String::new()
        };
        return Err(format!(
            "{digits} is the decimal number {value} in Rust, not an octal file mode{hint}"
        ));
    }
    if decimal && value > 0o777 && octal_looking {
        // `.mode(644)`: the digits of an octal mode, read as decimal, land on the
        // setuid/setgid/sticky bits.
        return Err(format!(
            "file mode {digits} is decimal in Rust (0o{value:o}, with setuid/setgid/sticky bits): write 0o{digits}"
        ));
    }
    if strict && decimal && value > 7 {
        let hint = if octal_looking {
            format!(", such as 0o{digits}")
        } else {
            String::new()
        };
        return Err(format!(
            "file mode {digits} is decimal (0o{value:o}): write it in octal{hint}"
        ));
    }
    if value > 0o7777 {
        return Err(format!(
            "file mode 0o{value:o} is above 0o7777: a mode has at most 4 octal digits"
        ));
    }
    // Range checked just above.
    Ok(value as u32)
}

/// `compile_error!` followed by `value`, as one expression.
fn with_error(error: syn::Error, value: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote!({ #error #value })
}

fn spanned_error(tokens: &TokenStream, message: String) -> syn::Error {
    if tokens.is_empty() {
        syn::Error::new(Span::call_site(), message)
    } else {
        syn::Error::new_spanned(tokens, message)
    }
}

/// The string macros of this crate (their arguments are checked by the macro itself).
pub(crate) const STRING_MACROS: [&str; 9] = [
    "image_ref",
    "path",
    "bind",
    "tmpfs",
    "mount_options",
    "sysctl",
    "envvar",
    "capability",
    "rlimit",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn int(text: &str) -> LitInt {
        LitInt::new(text, Span::call_site())
    }

    #[test]
    fn integer_modes() {
        assert_eq!(integer_mode(&int("0o644"), true), Ok(0o644));
        assert_eq!(integer_mode(&int("0o4755u32"), true), Ok(0o4755));
        assert_eq!(integer_mode(&int("0x1a4"), true), Ok(0o644));
        assert_eq!(integer_mode(&int("0"), true), Ok(0));
        assert_eq!(integer_mode(&int("420"), false), Ok(0o644));
        assert_eq!(integer_mode(&int("493"), false), Ok(0o755));
        assert_eq!(
            integer_mode(&int("644"), false),
            Err("file mode 644 is decimal in Rust (0o1204, with setuid/setgid/sticky bits): write 0o644".into())
        );
        assert!(integer_mode(&int("420"), true)
            .unwrap_err()
            .contains("is decimal (0o644)"));
        assert!(integer_mode(&int("0644"), false)
            .unwrap_err()
            .contains("decimal number 644"));
        assert!(integer_mode(&int("0899"), false)
            .unwrap_err()
            .ends_with("not an octal file mode"));
        assert!(integer_mode(&int("0o10000"), false)
            .unwrap_err()
            .contains("above 0o7777"));
        assert!(integer_mode(&int("0o644u8"), false)
            .unwrap_err()
            .contains("not u8"));
    }

    #[test]
    fn string_macro_expands_to_the_literal_or_error_then_literal() {
        let ok = checked_str(
            quote!("/etc"),
            "path",
            "/x",
            linuxkit_validate::absolute_path,
        );
        assert_eq!(ok.to_string(), "\"/etc\"");
        let bad = checked_str(
            quote!("etc"),
            "path",
            "/x",
            linuxkit_validate::absolute_path,
        )
        .to_string();
        assert!(bad.contains("compile_error"), "{bad}");
        assert!(bad.ends_with("\"etc\" }"), "{bad}");
        let mode = mode(quote!("0644")).to_string();
        assert_eq!(mode, "0o644u32");
    }
}
