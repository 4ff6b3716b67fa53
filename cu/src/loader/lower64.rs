//! Lowering of memory64 modules to 32-bit memory, so that Wasmer (which cannot compile
//! memory64, see the study in `spec/wasm-module-abi.md` §0.2) runs the wasm64 AO formats.
//!
//! The module keeps its i64 pointers everywhere (globals, locals, signatures, the ABI the host
//! sees); only the memory itself becomes 32-bit, and every instruction that hands an address to
//! the memory wraps it first (`i32.wrap_i64`). `memory.size` and `memory.grow` extend their
//! result back to i64 (`-1` stays `-1`). Active data segments get 32-bit offsets. This is the
//! transformation binaryen's `--memory64-lowering` makes, written here on `wasmparser` +
//! `wasm-encoder` so the CU needs no external tool. Its limit is the 32-bit one: 4 GiB of memory
//! (the format's 16 GiB maximum is capped there).
//!
//! An address at or above 4 GiB would wrap instead of trapping; it cannot arise while the memory
//! itself is below 4 GiB and every access before the lowering was in bounds, which is what a
//! deterministic replay of a valid process gives.

use wasm_encoder::reencode::{Reencode, RoundtripReencoder, utils};
use wasm_encoder::{Function, Instruction, ValType};
use wasmparser::{FunctionBody, Operator};

use crate::loader::metering;

/// Why a module could not be lowered.
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    /// The binary does not parse.
    #[error("the module does not parse: {0}")]
    Parse(String),
    /// An instruction or construct the lowering does not handle.
    #[error("memory64 lowering: {0}")]
    Unsupported(String),
}

/// Part of the compiled-module cache key: artifacts made by an older rewrite are compiled again.
pub const REWRITE_VERSION: u32 = 1;

/// Largest 32-bit memory in 64 KiB pages.
const MAX_PAGES_32: u64 = 65_536;

struct Lowering {
    /// Lower memory accesses (the module has a 64-bit memory).
    lower: bool,
    /// The indexes of the gas-used and gas-limit globals, when the module gets them.
    meter: Option<(u32, u32)>,
    /// Charge segments as wasm-metering does (the `-metering` formats).
    charge_segments: bool,
    /// The function index of an imported `metering.usegas` whose calls become inline
    /// additions to the gas global (pre-metered modules).
    usegas: Option<u32>,
    /// Indexes (per function) of the scratch locals: i32, i64, f32, f64, v128, i32 (second).
    scratch: [u32; 6],
    unsupported: Option<String>,
}

impl Lowering {
    fn fail(&mut self, what: String) {
        if self.unsupported.is_none() {
            self.unsupported = Some(what);
        }
    }
}

fn wrap(f: &mut Function) {
    f.instruction(&Instruction::I32WrapI64);
}

/// The type of the value a store writes, for the stores this pass knows.
fn store_value(op: &Operator<'_>) -> Option<usize> {
    use Operator::*;
    Some(match op {
        I32Store { .. } | I32Store8 { .. } | I32Store16 { .. } => 0,
        I64Store { .. } | I64Store8 { .. } | I64Store16 { .. } | I64Store32 { .. } => 1,
        F32Store { .. } => 2,
        F64Store { .. } => 3,
        V128Store { .. } => 4,
        _ => return None,
    })
}

fn is_load(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        I32Load { .. }
            | I64Load { .. }
            | F32Load { .. }
            | F64Load { .. }
            | I32Load8S { .. }
            | I32Load8U { .. }
            | I32Load16S { .. }
            | I32Load16U { .. }
            | I64Load8S { .. }
            | I64Load8U { .. }
            | I64Load16S { .. }
            | I64Load16U { .. }
            | I64Load32S { .. }
            | I64Load32U { .. }
            | V128Load { .. }
            | V128Load8x8S { .. }
            | V128Load8x8U { .. }
            | V128Load16x4S { .. }
            | V128Load16x4U { .. }
            | V128Load32x2S { .. }
            | V128Load32x2U { .. }
            | V128Load8Splat { .. }
            | V128Load16Splat { .. }
            | V128Load32Splat { .. }
            | V128Load64Splat { .. }
            | V128Load32Zero { .. }
            | V128Load64Zero { .. }
    )
}

/// Whether the operator reads or writes memory in a way not handled above (SIMD lane
/// loads/stores, `memory.discard`): refused rather than lowered wrongly. Atomics are refused
/// before the rewrite starts, by validating without the threads feature.
fn touches_memory_otherwise(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        V128Load8Lane { .. }
            | V128Load16Lane { .. }
            | V128Load32Lane { .. }
            | V128Load64Lane { .. }
            | V128Store8Lane { .. }
            | V128Store16Lane { .. }
            | V128Store32Lane { .. }
            | V128Store64Lane { .. }
            | MemoryDiscard { .. }
    )
}

/// Refuse modules using atomics (threads), whose memory accesses the lowering does not rewrite.
fn refuse_atomics(wasm: &[u8]) -> Result<(), LowerError> {
    let mut features = wasmparser::WasmFeatures::default();
    features.remove(wasmparser::WasmFeatures::THREADS);
    features.insert(wasmparser::WasmFeatures::MEMORY64);
    wasmparser::Validator::new_with_features(features)
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| {
            LowerError::Unsupported(format!("the module does not validate without atomics: {e}"))
        })
}

impl Lowering {
    /// The function with its memory accesses lowered; `params` is its parameter count (locals
    /// are numbered after the parameters, and the scratch locals after the declared ones).
    fn lower_body(&mut self, body: &FunctionBody<'_>, params: u32) -> Result<Function, LowerError> {
        let perr = |e: wasmparser::BinaryReaderError| LowerError::Parse(e.to_string());
        let mut locals: Vec<(u32, ValType)> = Vec::new();
        let mut count: u32 = 0;
        for pair in body.get_locals_reader().map_err(perr)? {
            let (n, ty) = pair.map_err(perr)?;
            let ty = RoundtripReencoder
                .val_type(ty)
                .map_err(|e| LowerError::Parse(e.to_string()))?;
            locals.push((n, ty));
            count += n;
        }
        let base = params + count;
        for (i, ty) in [
            ValType::I32,
            ValType::I64,
            ValType::F32,
            ValType::F64,
            ValType::V128,
            ValType::I32,
        ]
        .into_iter()
        .enumerate()
        {
            self.scratch[i] = base + i as u32;
            locals.push((1, ty));
        }
        let mut f = Function::new(locals);
        let mut reader = body.get_operators_reader().map_err(perr)?;
        let mut segment: Vec<Operator<'_>> = Vec::new();
        while !reader.eof() {
            let op = reader.read().map_err(perr)?;
            if !self.charge_segments {
                self.lower_op(&mut f, op)?;
                continue;
            }
            let ends = metering::ends_segment(&op);
            segment.push(op);
            if ends {
                self.flush_segment(&mut f, &mut segment)?;
            }
        }
        self.flush_segment(&mut f, &mut segment)?;
        Ok(f)
    }

    /// Charge a metering segment, then emit its operators.
    fn flush_segment(
        &mut self,
        f: &mut Function,
        segment: &mut Vec<Operator<'_>>,
    ) -> Result<(), LowerError> {
        if let Some(cost) = metering::charge(segment) {
            f.instruction(&Instruction::I64Const(cost as i64));
            self.add_gas(f);
        }
        for op in segment.drain(..) {
            self.lower_op(f, op)?;
        }
        Ok(())
    }

    fn emit(&mut self, f: &mut Function, op: Operator<'_>) -> Result<(), LowerError> {
        let insn = RoundtripReencoder
            .instruction(op)
            .map_err(|e| LowerError::Parse(e.to_string()))?;
        f.instruction(&insn);
        Ok(())
    }

    /// Add the i64 on the stack to the gas used; past the limit, trap (the host reports it as
    /// the reference's "out of gas!").
    fn add_gas(&self, f: &mut Function) {
        let Some((used, limit)) = self.meter else {
            return;
        };
        f.instruction(&Instruction::GlobalGet(used));
        f.instruction(&Instruction::I64Add);
        f.instruction(&Instruction::GlobalSet(used));
        f.instruction(&Instruction::GlobalGet(used));
        f.instruction(&Instruction::GlobalGet(limit));
        f.instruction(&Instruction::I64GtU);
        f.instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
        f.instruction(&Instruction::Unreachable);
        f.instruction(&Instruction::End);
    }

    fn lower_op(&mut self, f: &mut Function, op: Operator<'_>) -> Result<(), LowerError> {
        if let (Some(usegas), Operator::Call { function_index }) = (self.usegas, &op)
            && *function_index == usegas
        {
            // `usegas(n)` in the glue is `used += n` on a JS number: a signed i32.
            f.instruction(&Instruction::I64ExtendI32S);
            self.add_gas(f);
            return Ok(());
        }
        if !self.lower {
            return self.emit(f, op);
        }
        let s = self.scratch;
        if is_load(&op) {
            wrap(f);
            return self.emit(f, op);
        }
        if let Some(v) = store_value(&op) {
            f.instruction(&Instruction::LocalSet(s[v]));
            wrap(f);
            f.instruction(&Instruction::LocalGet(s[v]));
            return self.emit(f, op);
        }
        match op {
            Operator::MemorySize { .. } => {
                self.emit(f, op)?;
                f.instruction(&Instruction::I64ExtendI32U);
            }
            Operator::MemoryGrow { .. } => {
                wrap(f);
                self.emit(f, op)?;
                f.instruction(&Instruction::I64ExtendI32S);
            }
            // [dst i64, value i32, n i64]
            Operator::MemoryFill { .. } => {
                wrap(f);
                f.instruction(&Instruction::LocalSet(s[5]));
                f.instruction(&Instruction::LocalSet(s[0]));
                wrap(f);
                f.instruction(&Instruction::LocalGet(s[0]));
                f.instruction(&Instruction::LocalGet(s[5]));
                self.emit(f, op)?;
            }
            // [dst i64, src i64, n i64]
            Operator::MemoryCopy { .. } => {
                wrap(f);
                f.instruction(&Instruction::LocalSet(s[5]));
                wrap(f);
                f.instruction(&Instruction::LocalSet(s[0]));
                wrap(f);
                f.instruction(&Instruction::LocalGet(s[0]));
                f.instruction(&Instruction::LocalGet(s[5]));
                self.emit(f, op)?;
            }
            // [dst i64, offset i32, n i32]
            Operator::MemoryInit { .. } => {
                f.instruction(&Instruction::LocalSet(s[5]));
                f.instruction(&Instruction::LocalSet(s[0]));
                wrap(f);
                f.instruction(&Instruction::LocalGet(s[0]));
                f.instruction(&Instruction::LocalGet(s[5]));
                self.emit(f, op)?;
            }
            ref other if touches_memory_otherwise(other) => {
                self.fail(format!("{other:?} is not supported"));
                self.emit(f, op)?;
            }
            _ => self.emit(f, op)?,
        }
        Ok(())
    }
}

/// Whether `wasm` declares or imports a 64-bit memory.
pub fn uses_memory64(wasm: &[u8]) -> Result<bool, LowerError> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| LowerError::Parse(e.to_string()))? {
            wasmparser::Payload::MemorySection(r) => {
                for m in r {
                    if m.map_err(|e| LowerError::Parse(e.to_string()))?.memory64 {
                        return Ok(true);
                    }
                }
            }
            wasmparser::Payload::ImportSection(r) => {
                for imports in r {
                    let imports = imports.map_err(|e| LowerError::Parse(e.to_string()))?;
                    for import in imports {
                        let (_, import) = import.map_err(|e| LowerError::Parse(e.to_string()))?;
                        if let wasmparser::TypeRef::Memory(m) = import.ty
                            && m.memory64
                        {
                            return Ok(true);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

struct Reencoder {
    lowering: Lowering,
    /// Parameter counts of the defined functions, in order.
    params: Vec<u32>,
    next_body: usize,
}

impl Reencode for Reencoder {
    type Error = LowerError;

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<LowerError>> {
        utils::parse_global_section(self, globals, section)?;
        if self.lowering.meter.is_some() {
            for _ in 0..2 {
                globals.global(
                    wasm_encoder::GlobalType {
                        val_type: ValType::I64,
                        mutable: true,
                        shared: false,
                    },
                    &wasm_encoder::ConstExpr::i64_const(0),
                );
            }
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<LowerError>> {
        utils::parse_export_section(self, exports, section)?;
        if let Some((used, limit)) = self.lowering.meter {
            exports.export(
                metering::GAS_USED_EXPORT,
                wasm_encoder::ExportKind::Global,
                used,
            );
            exports.export(
                metering::GAS_LIMIT_EXPORT,
                wasm_encoder::ExportKind::Global,
                limit,
            );
        }
        Ok(())
    }

    fn memory_type(
        &mut self,
        m: wasmparser::MemoryType,
    ) -> Result<wasm_encoder::MemoryType, wasm_encoder::reencode::Error<LowerError>> {
        if !self.lowering.lower {
            return Ok(utils::memory_type(self, m));
        }
        if m.shared {
            return Err(wasm_encoder::reencode::Error::UserError(
                LowerError::Unsupported("shared memory".into()),
            ));
        }
        if m.initial > MAX_PAGES_32 {
            return Err(wasm_encoder::reencode::Error::UserError(
                LowerError::Unsupported(format!(
                    "an initial memory of {} pages does not fit 4 GiB",
                    m.initial
                )),
            ));
        }
        Ok(wasm_encoder::MemoryType {
            minimum: m.initial,
            maximum: Some(m.maximum.map_or(MAX_PAGES_32, |x| x.min(MAX_PAGES_32))),
            memory64: false,
            shared: false,
            page_size_log2: m.page_size_log2,
        })
    }

    fn parse_data(
        &mut self,
        data: &mut wasm_encoder::DataSection,
        datum: wasmparser::Data<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<LowerError>> {
        if !self.lowering.lower {
            return utils::parse_data(self, data, datum);
        }
        match datum.kind {
            wasmparser::DataKind::Active {
                memory_index,
                offset_expr,
            } => {
                let mut ops = offset_expr.get_operators_reader();
                let op = ops.read().map_err(|e| {
                    wasm_encoder::reencode::Error::UserError(LowerError::Parse(e.to_string()))
                })?;
                let offset = match op {
                    Operator::I64Const { value } => u32::try_from(value).map_err(|_| {
                        wasm_encoder::reencode::Error::UserError(LowerError::Unsupported(format!(
                            "a data segment at {value} is beyond 4 GiB"
                        )))
                    })?,
                    Operator::I32Const { value } => value as u32,
                    other => {
                        return Err(wasm_encoder::reencode::Error::UserError(
                            LowerError::Unsupported(format!("data segment offset {other:?}")),
                        ));
                    }
                };
                data.active(
                    memory_index,
                    &wasm_encoder::ConstExpr::i32_const(offset as i32),
                    datum.data.iter().copied(),
                );
            }
            wasmparser::DataKind::Passive => {
                data.passive(datum.data.iter().copied());
            }
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: FunctionBody<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<LowerError>> {
        let params = self.params.get(self.next_body).copied().unwrap_or(0);
        self.next_body += 1;
        let f = self
            .lowering
            .lower_body(&func, params)
            .map_err(wasm_encoder::reencode::Error::UserError)?;
        code.function(&f);
        Ok(())
    }
}

/// The module with its 64-bit memory lowered to 32 bits (unchanged when it has none).
pub fn lower(wasm: &[u8]) -> Result<Vec<u8>, LowerError> {
    rewrite(wasm, false)
}

/// The module lowered to 32-bit memory when it has a 64-bit one; with `meter`, charging gas as
/// `@permaweb/wasm-metering` does (see [`metering`]) into two exported i64 globals; and, when it
/// imports `metering.usegas` (pre-metered builds), with each call to it turned into the same
/// inline addition, which saves a call out of wasm per basic block and gives the same counts.
pub fn rewrite(wasm: &[u8], meter: bool) -> Result<Vec<u8>, LowerError> {
    let lower = uses_memory64(wasm)?;
    let counts = module_counts(wasm)?;
    let usegas = counts.usegas;
    if !lower && !meter && usegas.is_none() {
        return Ok(wasm.to_vec());
    }
    if lower {
        refuse_atomics(wasm)?;
    }
    let gas_globals = meter || usegas.is_some();
    if gas_globals && !counts.has_globals {
        return Err(LowerError::Unsupported(
            "metering needs a module with a global section".into(),
        ));
    }
    let mut r = Reencoder {
        lowering: Lowering {
            lower,
            meter: gas_globals.then_some((counts.globals, counts.globals + 1)),
            charge_segments: meter,
            usegas,
            scratch: [0; 6],
            unsupported: None,
        },
        params: counts.params,
        next_body: 0,
    };
    let mut module = wasm_encoder::Module::new();
    let parser = wasmparser::Parser::new(0);
    utils::parse_core_module(&mut r, &mut module, parser, wasm).map_err(|e| match e {
        wasm_encoder::reencode::Error::UserError(u) => u,
        other => LowerError::Parse(other.to_string()),
    })?;
    if let Some(u) = r.lowering.unsupported {
        return Err(LowerError::Unsupported(u));
    }
    Ok(module.finish())
}

/// What the rewrite needs to know of a module before it starts.
struct Counts {
    /// Parameter counts of the defined functions, in order.
    params: Vec<u32>,
    /// Globals, imported and defined: the gas globals get the next two indexes.
    globals: u32,
    /// Whether a global section exists (the gas globals are appended to it).
    has_globals: bool,
    /// The function index of an imported `metering.usegas (i32)`.
    usegas: Option<u32>,
}

/// The counts of [`Counts`], from the type, import, global and function sections.
fn module_counts(wasm: &[u8]) -> Result<Counts, LowerError> {
    let perr = |e: wasmparser::BinaryReaderError| LowerError::Parse(e.to_string());
    let mut types: Vec<(u32, bool)> = Vec::new();
    let mut c = Counts {
        params: Vec::new(),
        globals: 0,
        has_globals: false,
        usegas: None,
    };
    let mut functions = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.map_err(perr)? {
            wasmparser::Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    let ty = ty.map_err(perr)?;
                    let usegas_shape =
                        ty.params() == [wasmparser::ValType::I32] && ty.results().is_empty();
                    types.push((ty.params().len() as u32, usegas_shape));
                }
            }
            wasmparser::Payload::ImportSection(r) => {
                for imports in r {
                    for import in imports.map_err(perr)? {
                        let (_, import) = import.map_err(perr)?;
                        match import.ty {
                            wasmparser::TypeRef::Global(_) => c.globals += 1,
                            wasmparser::TypeRef::Func(ty) => {
                                let shape = types.get(ty as usize).is_some_and(|t| t.1);
                                if import.module == "metering" && import.name == "usegas" && shape {
                                    c.usegas = Some(functions);
                                }
                                functions += 1;
                            }
                            _ => {}
                        }
                    }
                }
            }
            wasmparser::Payload::GlobalSection(r) => {
                c.has_globals = true;
                c.globals += r.count();
            }
            wasmparser::Payload::FunctionSection(r) => {
                for ty in r {
                    let ty = ty.map_err(perr)?;
                    c.params
                        .push(types.get(ty as usize).map(|t| t.0).ok_or_else(|| {
                            LowerError::Parse(format!("function type {ty} is not defined"))
                        })?);
                }
            }
            _ => {}
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmer::{Instance, Module, Store, Value, imports};

    const MEMORY64: &str = r#"
      (module
        (memory (export "memory") i64 1 10)
        (data (i64.const 16) "hello")
        (func (export "f") (param $p i64) (result i64) (local $x i32)
          (local.set $x (i32.const 3))
          (i64.store offset=8 (local.get $p) (i64.const 42))
          (i64.add
            (i64.load offset=8 (local.get $p))
            (i64.extend_i32_u (i32.add (local.get $x) (i32.load8_u (i64.const 16))))))
        (func (export "grow") (result i64) (memory.grow (i64.const 1)))
        (func (export "size") (result i64) (memory.size))
        (func (export "fill")
          (memory.fill (i64.const 100) (i32.const 7) (i64.const 4))
          (memory.copy (i64.const 200) (i64.const 100) (i64.const 4))))
    "#;

    #[test]
    fn a_memory64_module_runs_the_same_after_lowering() {
        let wasm = wasmer::wat2wasm(MEMORY64.as_bytes()).unwrap().to_vec();
        assert!(uses_memory64(&wasm).unwrap());
        let lowered = lower(&wasm).unwrap();
        assert!(!uses_memory64(&lowered).unwrap());
        wasmparser::Validator::new().validate_all(&lowered).unwrap();
        let mut store = Store::default();
        let module = Module::new(&store, &lowered).unwrap();
        let instance = Instance::new(&mut store, &module, &imports! {}).unwrap();
        let call = |store: &mut Store, name: &str, args: &[Value]| {
            instance
                .exports
                .get_function(name)
                .unwrap()
                .call(store, args)
                .unwrap()
                .to_vec()
        };
        // 42 + 3 + 'h'
        assert_eq!(call(&mut store, "f", &[Value::I64(0)]), [Value::I64(149)]);
        assert_eq!(call(&mut store, "grow", &[]), [Value::I64(1)]);
        assert_eq!(call(&mut store, "size", &[]), [Value::I64(2)]);
        call(&mut store, "fill", &[]);
        let memory = instance.exports.get_memory("memory").unwrap();
        let mut four = [0u8; 4];
        memory.view(&store).read(200, &mut four).unwrap();
        assert_eq!(four, [7; 4]);
    }

    #[test]
    fn atomics_are_refused_rather_than_lowered_wrongly() {
        let wasm = wasmer::wat2wasm(
            br#"(module (memory i64 1) (func (result i32) (i32.atomic.load (i64.const 0))))"#,
        )
        .unwrap()
        .to_vec();
        let e = lower(&wasm).unwrap_err();
        assert!(matches!(e, LowerError::Unsupported(_)), "{e}");
    }

    #[test]
    fn a_32_bit_module_is_left_alone() {
        let wasm = wasmer::wat2wasm(b"(module (memory 1))").unwrap().to_vec();
        assert_eq!(lower(&wasm).unwrap(), wasm);
    }
}
