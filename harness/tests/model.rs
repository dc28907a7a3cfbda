//! The reference model passes every scenario: the written expectations and the
//! contract agree — with no declared limit, with the SDK schema's limits, and with a
//! limit on one field only (ADAPTERS.md's example), which holds that field and no other.
//! (Also the smallest use of `conformance_main!`.)

use tokenstore_harness::{Field, Limits, Model};

tokenstore_harness::conformance_main! {
    "model" => || async { Ok::<_, String>(Model::new()) },
    "model-sdk-limits" => || async { Ok::<_, String>(Model::with_limits(Limits::sdk_schema())) },
    "model-id-limit" => || async {
        Ok::<_, String>(Model::with_limits(Limits::from_pairs(&[(Field::Id, 10)])))
    },
}
