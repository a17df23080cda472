//! Generates the Rust code for `proto/attn/v1/*.proto` with protox (a pure-Rust
//! protobuf compiler), so a fresh machine needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "attn/v1/types.proto",
        "attn/v1/bidder.proto",
        "attn/v1/payment_rail.proto",
    ];
    let descriptors = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .client_mod_attribute(".", "#[cfg(feature = \"grpc\")]")
        .server_mod_attribute(".", "#[cfg(feature = \"grpc\")]")
        .type_attribute(".", "#[allow(clippy::all, missing_docs)]")
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=attn");
    Ok(())
}
