//! The Lua process module: Lua 5.3.6 compiled to wasm with an aos-compatible operating system,
//! the module processes of the local computer run by default.
//!
//! ```text
//!   c/handle.c      the `handle(msg, env)` export (wasm32-unknown-emscripten2 ABI) and `main`,
//!                   which loads the embedded Lua files
//!   os/boot.lua     defines the global `handle`: JSON in, `{"ok", "response"}` JSON out
//!   os/process.lua  one message: normalise, boot, trust, Handlers (in a coroutine), reply
//!   os/ao.lua       identity, authorities, outbox (send, spawn, assign)
//!   os/handlers.lua Handlers.add/append/prepend/before/after/once/remove/receive/evaluate
//!   os/*.lua        json, utils, handlers-utils, stringify, base64, bint
//!   blueprints/     token, chatroom, staking, voting, chat, arena, unit-registry: loadable with
//!                   `Blueprint(name)`
//!   build.sh        emcc -> dist/process.wasm (committed, so running needs no emscripten)
//! ```
//!
//! This crate embeds the built module ([`PROCESS_WASM`]) with the tags to publish it with
//! ([`MODULE_TAGS`]) and the blueprints' sources ([`blueprint`]).

/// The module: `dist/process.wasm`, as `build.sh` produced it (CI checks that they agree).
pub const PROCESS_WASM: &[u8] = include_bytes!("../dist/process.wasm");

/// The module's format: the emscripten2 ABI, which both our CU and `@permaweb/ao-loader` run.
pub const MODULE_FORMAT: &str = "wasm32-unknown-emscripten2";

/// The most memory a process of this module may use: the wasm maximum build.sh sets, which is
/// the most the emscripten2 glue (and so our CU, which matches it) lets a heap grow to.
pub const MEMORY_LIMIT: &str = "500-mb";

/// The most gas one message may use: the aos default (9e12), which our CU also allows by default.
pub const COMPUTE_LIMIT: &str = "9000000000000";

/// The tags of the module item (`Type: Module` with the wasm as data), in publishing order.
/// aoconnect's `spawn` refuses modules without Module-Format and Input/Output-Encoding, and the
/// CU requires the two limits.
pub const MODULE_TAGS: &[(&str, &str)] = &[
    ("Data-Protocol", "ao"),
    ("Variant", "ao.TN.1"),
    ("Type", "Module"),
    ("Module-Format", MODULE_FORMAT),
    ("Input-Encoding", "JSON-1"),
    ("Output-Encoding", "JSON-1"),
    ("Memory-Limit", MEMORY_LIMIT),
    ("Compute-Limit", COMPUTE_LIMIT),
    ("Content-Type", "application/wasm"),
    ("Name", "ao-rs Lua"),
];

/// The gas limit as a number, for [`module_builder`].
const COMPUTE_LIMIT_GAS: u64 = 9_000_000_000_000;

/// The module item to sign and publish: the wasm with [`MODULE_TAGS`] (ao-core's builder adds
/// the protocol tags and checks the limits).
pub fn module_builder() -> ao_core::ao::ModuleBuilder {
    ao_core::ao::ModuleBuilder::new(MODULE_FORMAT, "JSON-1", "JSON-1", PROCESS_WASM)
        .memory_limit(MEMORY_LIMIT)
        .compute_limit(COMPUTE_LIMIT_GAS)
        .tag("Content-Type", "application/wasm")
        .tag("Name", "ao-rs Lua")
}

/// The blueprints shipped in the module, by name.
pub const BLUEPRINTS: &[(&str, &str)] = &[
    ("token", include_str!("../blueprints/token.lua")),
    ("chatroom", include_str!("../blueprints/chatroom.lua")),
    ("staking", include_str!("../blueprints/staking.lua")),
    ("voting", include_str!("../blueprints/voting.lua")),
    ("chat", include_str!("../blueprints/chat.lua")),
    ("arena", include_str!("../blueprints/arena.lua")),
    (
        "unit-registry",
        include_str!("../blueprints/unit-registry.lua"),
    ),
];

/// The Lua source of blueprint `name`, for clients that load it with an Eval (the same code the
/// module runs for `Blueprint(name)`).
pub fn blueprint(name: &str) -> Option<&'static str> {
    BLUEPRINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_publishes_exactly_the_module_tags() {
        let mut built: Vec<(String, String)> = module_builder()
            .build_tags()
            .expect("tags")
            .iter()
            .map(|t| (t.name.clone(), t.value.clone()))
            .collect();
        let mut listed: Vec<(String, String)> = MODULE_TAGS
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        built.sort();
        listed.sort();
        assert_eq!(built, listed);
        assert_eq!(COMPUTE_LIMIT, COMPUTE_LIMIT_GAS.to_string());
    }

    #[test]
    fn the_blueprints_are_the_files_the_module_embeds() {
        assert!(blueprint("token").is_some_and(|s| s.contains("Credit-Notice")));
        assert!(blueprint("chatroom").is_some_and(|s| s.contains("Broadcast")));
        assert!(blueprint("unit-registry").is_some_and(|s| s.contains("Attest-Request")));
        assert_eq!(blueprint("nope"), None);
    }
}
