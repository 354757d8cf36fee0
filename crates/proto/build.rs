//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed. The descriptor set
//! is also written to `OUT_DIR/joule_descriptor_set.bin` for [`joule_proto::DESCRIPTOR_SET`]
//! (the JSON rendering of events by reflection).

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let mut files = Vec::new();
    // A new file changes the directory: rebuild then too.
    println!("cargo:rerun-if-changed={}", root.join("joule/v1").display());
    for entry in std::fs::read_dir(root.join("joule/v1"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    files.sort();
    let fds = protox::compile(&files, [&root])?;
    // Comments and source positions are of no use at run time: the set without them is smaller.
    let mut stripped = fds.clone();
    for file in &mut stripped.file {
        file.source_code_info = None;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("joule_descriptor_set.bin"),
        stripped.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
