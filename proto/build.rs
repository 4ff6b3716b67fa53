//! Compiles the `.proto` files under `proto/` into Rust with prost and tonic.
//!
//! protox parses the files in pure Rust, so no system `protoc` is needed (CI machines have none).
//! The encoded `FileDescriptorSet` is also written to `OUT_DIR` for gRPC reflection.

use std::error::Error;
use std::path::PathBuf;

use protox::prost::Message as _;

/// Every `.proto` file of the contract, relative to the include root `proto/`.
const PROTOS: [&str; 4] = [
    "ao/common/v1/common.proto",
    "ao/scheduler/v1/scheduler.proto",
    "ao/compute/v1/compute.proto",
    "ao/messenger/v1/messenger.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, ["proto"])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("ao_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(true)
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
