//! The MU's client of SUs that are not ours (the AO HTTP API), against a real SU over HTTP:
//! scheduling a process and a message, a duplicate, an assignment and finding it again, the
//! process record, and a refusal.

mod common;

use ao_core::DataItemBuilder;
use ao_core::ao::ProcessBuilder;
use ao_mu::crank::AssignOrder;
use ao_mu::units::{SuClient, UnitError};
use common::Computer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_http_su_client_schedules_assigns_and_reads_processes() {
    let c = Computer::start().await;
    let su = SuClient::Http {
        url: c.su().url(),
        http: c.http.clone(),
        forwarded_ip: None,
    };
    let raw = ao_core::encoding::decode_id("module", &c.module).expect("id");
    let p = ProcessBuilder::new(raw, c.su().address.clone())
        .tag("Name", "over-http")
        .sign(&c.user)
        .expect("process");
    let pid = su
        .schedule(p.item().as_bytes().clone())
        .await
        .expect("schedule process")
        .id;
    assert_eq!(pid, p.id());

    let target = ao_core::encoding::decode_id("pid", &pid).expect("pid");
    let m = DataItemBuilder::new()
        .target(target)
        .tag("Data-Protocol", "ao")
        .tag("Type", "Message")
        .tag("Action", "Hello")
        .sign(&c.user)
        .expect("message");
    let scheduled = su.schedule(m.item_bytes()).await.expect("schedule message");
    assert_eq!(scheduled.id, m.id());
    assert!(matches!(
        su.schedule(m.item_bytes()).await,
        Err(UnitError::Duplicate(_))
    ));

    let info = su.process(&pid).await.expect("process");
    assert!(
        info.tags
            .contains(&("Name".to_string(), "over-http".to_string()))
    );
    assert_eq!(info.owner.len(), 43);

    // Assign the message to a second process; asking again finds the same assignment.
    let q = ProcessBuilder::new(raw, c.su().address.clone())
        .tag("Name", "second")
        .sign(&c.user)
        .expect("process");
    let qid = su
        .schedule(q.item().as_bytes().clone())
        .await
        .expect("q")
        .id;
    let order = AssignOrder {
        process: qid.clone(),
        message: m.id(),
        base_layer: false,
        exclude: Vec::new(),
    };
    let assignment = su.assign(&order).await.expect("assign");
    assert_eq!(assignment.len(), 43);
    assert!(matches!(
        su.assign(&order).await,
        Err(UnitError::Duplicate(_))
    ));
    assert_eq!(
        su.assignment_of(&qid, &m.id()).await.expect("lookup"),
        Some(assignment)
    );
    assert_eq!(
        su.assignment_of(&qid, &"A".repeat(43))
            .await
            .expect("lookup"),
        None
    );

    // A message for a process this SU does not have: refused with the SU's 4xx, not retried.
    let stray = DataItemBuilder::new()
        .target([9u8; 32])
        .tag("Data-Protocol", "ao")
        .tag("Type", "Message")
        .sign(&c.user)
        .expect("stray");
    assert!(matches!(
        su.schedule(stray.item_bytes()).await,
        Err(UnitError::Refused(_, _))
    ));
    c.stop().await;
}

trait ItemBytes {
    fn item_bytes(&self) -> bytes::Bytes;
}

impl ItemBytes for ao_core::DataItem {
    fn item_bytes(&self) -> bytes::Bytes {
        self.as_bytes().clone()
    }
}
