//! The HTTP clients against the embedded local gateway over loopback HTTP: every [`Gateway`] call
//! made through `HttpGateway` must answer exactly what the same call answers in-process. This
//! checks the GraphQL text and variable types against a real schema (async-graphql's, with the
//! argument names arweave.net accepts) and the REST shapes against a real server, not just
//! against our own canned answers.

use std::time::Duration;

use ao_arweave::http::{ClientConfig, HttpBundler, HttpGateway};
use ao_arweave::local::{self, Config};
use ao_arweave::{BlockQuery, Bundler, Error, Gateway, HeightRange, Sort, TagFilter, TxQuery};
use ao_core::wallet::Ed25519Wallet;
use ao_core::{DataItem, DataItemBuilder};

fn item(seed: u8, tags: &[(&str, &str)], data: &[u8]) -> DataItem {
    let w = Ed25519Wallet::from_seed(&[seed; 32]).unwrap();
    let mut b = DataItemBuilder::new();
    for (n, v) in tags {
        b = b.tag(*n, *v);
    }
    b.data(data.to_vec()).sign(&w).unwrap()
}

fn fast() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(10),
        max_retries: 2,
        backoff_base: Duration::from_millis(2),
        max_backoff: Duration::from_millis(20),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn http_clients_answer_as_the_local_gateway_does_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let local = local::serve(Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::ZERO,
        ..Config::new(dir.path())
    })
    .await
    .unwrap();
    let http = HttpGateway::new(&local.url(), &fast()).unwrap();
    let bundler = HttpBundler::new(&local.url(), &fast()).unwrap();

    let a = item(
        1,
        &[
            ("Data-Protocol", "ao"),
            ("Type", "Message"),
            ("Content-Type", "text/plain"),
        ],
        b"first",
    );
    let b = item(
        2,
        &[("Data-Protocol", "ao"), ("Type", "Process")],
        b"second",
    );
    let c = item(1, &[("Data-Protocol", "ao"), ("Type", "Message")], b"third");

    // Uploads through HTTP, acknowledged with the item's id; a repeat is harmless.
    for i in [&a, &b] {
        assert_eq!(bundler.upload(i).await.unwrap().id, i.id());
    }
    assert_eq!(bundler.upload(&a).await.unwrap().id, a.id());

    // Pending: no status yet, metadata without a block.
    assert_eq!(http.tx_status(&a.id()).await.unwrap(), None);
    let unknown = ao_core::encoding::b64url([5u8; 32]);
    let ask = vec![b.id(), unknown.clone(), a.id()];
    let pending = http.transactions_by_id(&ask).await.unwrap();
    assert_eq!(pending, local.transactions_by_id(&ask).await.unwrap());
    assert_eq!(pending.len(), 2);
    assert!(pending[1].block.is_none());

    let first_block = local.mine().await.unwrap();
    assert_eq!(bundler.upload(&c).await.unwrap().id, c.id());
    local.mine().await.unwrap();

    assert_eq!(&http.data(&a.id()).await.unwrap()[..], b"first");
    assert!(matches!(http.data(&unknown).await, Err(Error::NotFound(_))));
    assert_eq!(http.info().await.unwrap(), local.info().await.unwrap());
    let status = http.tx_status(&a.id()).await.unwrap().unwrap();
    assert_eq!(status.block_indep_hash, first_block.id);
    assert_eq!(status.number_of_confirmations, 2);
    assert_eq!(Some(status), local.tx_status(&a.id()).await.unwrap(),);
    assert!(matches!(
        http.tx_status(&unknown).await,
        Err(Error::NotFound(_))
    ));

    let metas = http.transactions_by_id(&ask).await.unwrap();
    assert_eq!(metas, local.transactions_by_id(&ask).await.unwrap());
    assert_eq!(metas[1].data_type.as_deref(), Some("text/plain"));
    assert_eq!(metas[1].block.as_ref().unwrap().id, first_block.id);

    // Queries with every kind of filter, paged one at a time, oldest first.
    let mut q = TxQuery {
        owners: vec![a.owner_address()],
        tags: vec![TagFilter {
            name: "Type".into(),
            values: vec!["Message".into()],
        }],
        block: Some(HeightRange {
            min: Some(1),
            max: None,
        }),
        first: 1,
        sort: Sort::HeightAsc,
        ..TxQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = http.query(&q).await.unwrap();
        assert_eq!(page, local.query(&q).await.unwrap());
        let Some((cursor, meta)) = page.edges.last() else {
            break;
        };
        seen.push(meta.id.clone());
        if !page.has_next_page {
            break;
        }
        q.after = Some(cursor.clone());
    }
    assert_eq!(seen, vec![a.id(), c.id()]);

    let by_recipient_and_ids = TxQuery {
        ids: vec![a.id(), b.id()],
        recipients: vec![unknown.clone()],
        first: 10,
        ..TxQuery::default()
    };
    let none = http.query(&by_recipient_and_ids).await.unwrap();
    assert!(none.edges.is_empty());
    assert_eq!(none, local.query(&by_recipient_and_ids).await.unwrap());

    for sort in [Sort::HeightAsc, Sort::HeightDesc] {
        let bq = BlockQuery {
            height: Some(HeightRange {
                min: Some(1),
                max: Some(2),
            }),
            first: 5,
            after: None,
            sort,
        };
        let page = http.blocks(&bq).await.unwrap();
        assert_eq!(page.edges.len(), 2);
        assert_eq!(page, local.blocks(&bq).await.unwrap());
    }

    local.shutdown().await;
}
