#[test]
fn lower_fixture() {
    for p in ["/tmp/aofix/wasm64-emscripten/process.wasm"] {
        let wasm = std::fs::read(p).unwrap();
        let t = std::time::Instant::now();
        let lowered = ao_cu::loader::lower64::lower(&wasm).unwrap();
        eprintln!("lowered {} -> {} bytes in {:?}", wasm.len(), lowered.len(), t.elapsed());
        wasmparser::Validator::new().validate_all(&lowered).unwrap();
        let store = wasmer::Store::default();
        let t = std::time::Instant::now();
        let m = wasmer::Module::new(&store, &lowered).unwrap();
        eprintln!("compiled in {:?}", t.elapsed());
        for i in m.imports() { eprintln!("import {}.{} {:?}", i.module(), i.name(), i.ty()); }
        for e in m.exports() { eprintln!("export {} {:?}", e.name(), e.ty()); }
    }
}
