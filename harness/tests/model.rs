//! The reference model passes every scenario: the written expectations and the
//! contract agree. (Also the smallest use of `conformance_main!`.)

tokenstore_harness::conformance_main! {
    "model" => || async { Ok::<_, String>(tokenstore_harness::Model::new()) },
}
