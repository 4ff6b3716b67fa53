//! Gas accounting for the `-metering` formats, charging exactly what `@permaweb/wasm-metering`
//! 0.2.2 (`meterWASM`, which the reference loader applies to those formats) charges, so that
//! `GasUsed` equals the reference's.
//!
//! The library splits each function body into segments that end after a branching operator
//! (`memory.grow`, `end`, `br`, `br_table`, `br_if`, `if`, `else`, `return`, `loop`), sums
//! its cost table over the segment, and when the sum is not zero inserts `const (sum + 91); call
//! usegas` before it (91 is the cost of those two instructions). We insert the same amount, but
//! into an i64 global of the module instead of a host call (`used += cost; if used > limit
//! { unreachable }`), which the host reads and resets around each `handle`: the same numbers
//! without a call out of wasm per basic block. The rewrite runs on the module's original
//! operators, before the memory64 lowering adds any of its own, so the lowering costs nothing.

use wasmparser::Operator;

/// What the inserted `const` + `call usegas` cost in the library's own table.
pub const METERING_OVERHEAD: u64 = 91;

/// Names of the two globals the rewrite adds and exports.
pub const GAS_USED_EXPORT: &str = "ao_gas_used";
/// The limit the host sets before start-up.
pub const GAS_LIMIT_EXPORT: &str = "ao_gas_limit";

/// Whether `op` ends a metering segment (it is part of the segment it ends).
pub fn ends_segment(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        MemoryGrow { .. }
            | End
            | Br { .. }
            | BrTable { .. }
            | BrIf { .. }
            | If { .. }
            | Else
            | Return
            | Loop { .. }
    )
}

/// The cost of `op` in wasm-metering's default table. The library looks costs up by the
/// operator's bare name in `wasm-json-toolkit` (`add` for all four `*.add`, `lt` for the float
/// comparisons, which the table does not list): every name the table lacks costs 0.
pub fn cost(op: &Operator<'_>) -> u64 {
    use Operator::*;
    match op {
        LocalGet { .. }
        | LocalSet { .. }
        | LocalTee { .. }
        | GlobalGet { .. }
        | GlobalSet { .. } => 120,
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
        | I64Load32U { .. } => 120,
        I32Store { .. }
        | I64Store { .. }
        | F32Store { .. }
        | F64Store { .. }
        | I32Store8 { .. }
        | I32Store16 { .. }
        | I64Store8 { .. }
        | I64Store16 { .. }
        | I64Store32 { .. } => 120,
        MemoryGrow { .. } => 10_000,
        MemorySize { .. } => 100,
        Nop | Block { .. } | Loop { .. } | If { .. } | Unreachable => 1,
        Else | Br { .. } | BrIf { .. } | Return | Call { .. } => 90,
        BrTable { .. } => 120,
        CallIndirect { .. } => 10_000,
        I32Const { .. } | I64Const { .. } | F32Const { .. } | F64Const { .. } => 1,
        I32Add | I64Add | F32Add | F64Add | I32Sub | I64Sub | F32Sub | F64Sub | I32Mul | I64Mul
        | F32Mul | F64Mul => 45,
        I32DivS | I32DivU | I64DivS | I64DivU | I32RemS | I32RemU | I64RemS | I64RemU => 36_000,
        I32And | I64And | I32Or | I64Or | I32Xor | I64Xor => 45,
        I32Shl | I64Shl | I32ShrU | I64ShrU | I32ShrS | I64ShrS => 67,
        I32Rotl | I64Rotl | I32Rotr | I64Rotr => 90,
        I32Eq | I64Eq | F32Eq | F64Eq | I32Ne | I64Ne | F32Ne | F64Ne | I32Eqz | I64Eqz => 45,
        I32LtS | I32LtU | I64LtS | I64LtU | I32LeS | I32LeU | I64LeS | I64LeU | I32GtS | I32GtU
        | I64GtS | I64GtU | I32GeS | I32GeU | I64GeS | I64GeU => 45,
        I32Clz | I64Clz | I32Ctz | I64Ctz | I32Popcnt | I64Popcnt => 45,
        Drop | Select => 120,
        _ => 0,
    }
}

/// The charge of a segment: its cost plus the overhead, or nothing when it costs nothing.
pub fn charge(segment: &[Operator<'_>]) -> Option<u64> {
    let sum: u64 = segment.iter().map(cost).sum();
    (sum != 0).then_some(sum + METERING_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cost_what_the_library_charges() {
        // i32.const 1; i32.const 2; i32.add; drop; end
        let seg = [
            Operator::I32Const { value: 1 },
            Operator::I32Const { value: 2 },
            Operator::I32Add,
            Operator::Drop,
            Operator::End,
        ];
        assert_eq!(charge(&seg), Some(1 + 1 + 45 + 120 + 91));
        assert!(ends_segment(&Operator::End));
        assert!(!ends_segment(&Operator::Call { function_index: 0 }));
        // Float division and comparisons are not in the table; neither is a bare `end`.
        assert_eq!(
            charge(&[Operator::F64Div, Operator::F64Lt, Operator::End]),
            None
        );
    }
}
