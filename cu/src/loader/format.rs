//! `Module-Format`, `Input-Encoding`, `Output-Encoding`: which host a module needs, and whether
//! this CU can run it. Unknown or unsupported values are refused with an error that names them,
//! before any wasm is compiled.

use crate::loader::error::LoaderError;

/// The module formats AO knows (`Module-Format` tag values, spec 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleFormat {
    /// `wasm32-unknown-emscripten`: the first aos builds (minified imports in module `a`).
    Emscripten,
    /// `wasm32-unknown-emscripten2`: aos 1.x and most legacynet processes.
    Emscripten2,
    /// `wasm32-unknown-emscripten3`.
    Emscripten3,
    /// `wasm32-unknown-emscripten4`: Asyncify builds with WeaveDrive.
    Emscripten4,
    /// `wasm32-unknown-emscripten-metering`: emscripten4 metered at load.
    Emscripten4Metering,
    /// `wasm64-unknown-emscripten-draft_2024_02_15`: aos 2.x (memory64).
    Wasm64,
    /// `wasm64-unknown-emscripten-draft_2024_10_16-metering`: aos 2.x metered at load.
    Wasm64Metering,
}

/// The only encoding AO defines for `Input-Encoding` and `Output-Encoding`.
pub const JSON_1: &str = "JSON-1";

impl ModuleFormat {
    /// Every format with its tag value, in the order of spec 1.2.
    pub const ALL: [(ModuleFormat, &'static str); 7] = [
        (ModuleFormat::Emscripten, "wasm32-unknown-emscripten"),
        (ModuleFormat::Emscripten2, "wasm32-unknown-emscripten2"),
        (ModuleFormat::Emscripten3, "wasm32-unknown-emscripten3"),
        (ModuleFormat::Emscripten4, "wasm32-unknown-emscripten4"),
        (
            ModuleFormat::Emscripten4Metering,
            "wasm32-unknown-emscripten-metering",
        ),
        (
            ModuleFormat::Wasm64,
            "wasm64-unknown-emscripten-draft_2024_02_15",
        ),
        (
            ModuleFormat::Wasm64Metering,
            "wasm64-unknown-emscripten-draft_2024_10_16-metering",
        ),
    ];

    /// Parse a `Module-Format` value.
    pub fn parse(value: &str) -> Result<ModuleFormat, LoaderError> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == value)
            .map(|(f, _)| *f)
            .ok_or_else(|| LoaderError::UnknownFormat(value.to_string()))
    }

    /// The tag value.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("", |(_, name)| name)
    }

    /// Whether the loader meters the module itself (the reference rewrites these formats with
    /// `@permaweb/wasm-metering` at load).
    pub fn metered(self) -> bool {
        matches!(
            self,
            ModuleFormat::Emscripten4Metering | ModuleFormat::Wasm64Metering
        )
    }

    /// Whether the module is written for the newer glue (emscripten3 and later: a `Date.now`
    /// counter, an empty environment, `_emscripten_stack_*` exports, Asyncify in 4 and wasm64).
    pub fn newer_glue(self) -> bool {
        !matches!(self, ModuleFormat::Emscripten | ModuleFormat::Emscripten2)
    }

    /// Whether pointers are 64-bit (the module's memory is lowered to 32 bits at compile time).
    pub fn pointer64(self) -> bool {
        matches!(self, ModuleFormat::Wasm64 | ModuleFormat::Wasm64Metering)
    }

    /// The largest heap the format's reference glue lets the module grow to
    /// (`getHeapMax()`): growth beyond it fails even when the module's own maximum is larger.
    /// (wasm64 modules run with 32-bit memory here, so 4 GiB caps them first.)
    pub fn heap_max(self) -> u64 {
        match self {
            ModuleFormat::Emscripten | ModuleFormat::Emscripten2 => 524_288_000,
            ModuleFormat::Emscripten3
            | ModuleFormat::Emscripten4
            | ModuleFormat::Emscripten4Metering => 4_294_901_760,
            ModuleFormat::Wasm64 | ModuleFormat::Wasm64Metering => 17_179_869_184,
        }
    }
}

impl std::fmt::Display for ModuleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check `Input-Encoding` / `Output-Encoding`: only `JSON-1` exists.
pub fn check_encoding(tag: &str, value: &str) -> Result<(), LoaderError> {
    if value == JSON_1 {
        Ok(())
    } else {
        Err(LoaderError::UnknownEncoding {
            tag: tag.to_string(),
            value: value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_and_unknown_ones_are_named() {
        for (f, name) in ModuleFormat::ALL {
            assert_eq!(ModuleFormat::parse(name).expect("known"), f);
            assert_eq!(f.to_string(), name);
        }
        let e = ModuleFormat::parse("wasm32-wasi").expect_err("unknown");
        assert!(e.to_string().contains("wasm32-wasi"));
        assert!(check_encoding("Input-Encoding", "JSON-1").is_ok());
        assert!(check_encoding("Input-Encoding", "CBOR").is_err());
    }
}
