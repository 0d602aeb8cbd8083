//! Any bytes as the body of every hearth RPC shape: decoding never panics, and what decodes
//! encodes and decodes again to the same JSON.
#![no_main]

use hearth_protocol::hearth::{
    DeploymentRef, ErrorResponse, EventsResponse, ListResponse, ProvisionRequest, RefRequest,
    StatusResponse, UpgradeRequest,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn round_trip<T: DeserializeOwned + Serialize>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let once = serde_json::to_value(&v).expect("encodes");
        let back: T = serde_json::from_value(once.clone()).expect("decodes its own encoding");
        assert_eq!(serde_json::to_value(&back).expect("encodes"), once);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ProvisionRequest>(data);
    round_trip::<RefRequest>(data);
    round_trip::<UpgradeRequest>(data);
    round_trip::<DeploymentRef>(data);
    round_trip::<StatusResponse>(data);
    round_trip::<ListResponse>(data);
    round_trip::<EventsResponse>(data);
    round_trip::<ErrorResponse>(data);
});
