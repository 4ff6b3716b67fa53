//! The `cu` binary. Not implemented yet: it says so and exits non-zero rather than pretend to serve.

fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "{}: not implemented yet (see the project's issues)",
        ao_cu::UNIT_NAME
    )
}
