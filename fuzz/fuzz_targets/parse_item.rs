//! Feed arbitrary bytes to every entry point that reads untrusted ANS-104 input. Any panic, overflow
//! or out-of-bounds access is a bug: the parser must answer every input with a value or an error.
#![no_main]

use ao_core::{DataItem, bundle, tags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(item) = DataItem::parse(data.to_vec()) {
        let _ = item.verify();
        let _ = item.native_address();
        if let Some(Ok(children)) = bundle::nested(&item) {
            for child in children {
                let _ = child.verify();
            }
        }
    }
    let _ = bundle::parse(data.to_vec());
    let _ = tags::decode(data, 4, 0);
});
