//! Memory pools on a real recording (tests/data/recorded/cuda_graph_pools, an H200, PyTorch
//! 2.11; scripts/record_graphs.py): a training step captured in a CUDA graph (its private pool)
//! and an eager pass in a `torch.cuda.MemPool` beside the default pool. The truth file holds
//! each pool's segments and bytes as the dump gives them.

mod common;

use memsight::analysis::pools::{PoolKind, DEFAULT_POOL};
use memsight::analysis::{self, replay::NONE};
use memsight::read;

const NAME: &str = "recorded/cuda_graph_pools";

#[test]
fn every_block_is_placed_in_the_pool_the_dump_names() {
    let path = common::require(NAME);
    let truth = common::truth(NAME).expect("the truth file of cuda_graph_pools");
    let snap = read::load_path(&path, &read::LoadOptions::default()).expect("the recording reads");
    let a = analysis::analyze(&snap);
    let d = &a.devices[0];
    let pools = &d.pools;
    let want = truth["pools"].as_object().expect("truth: pools");
    assert_eq!(pools.pools.len(), want.len(), "{:?}", pools.pools);
    assert!(pools.has_private());
    assert_eq!(pools.pools[0].id, DEFAULT_POOL);
    let kinds: Vec<PoolKind> = pools.pools.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [PoolKind::Default, PoolKind::User, PoolKind::Graph]);
    for (k, p) in pools.pools.iter().enumerate() {
        let t = &want[&format!("({}, {})", p.id.0, p.id.1)];
        assert_eq!(p.segments as u64, t["segments"].as_u64().unwrap(), "{p:?}");
        assert_eq!(p.reserved, t["reserved"].as_u64().unwrap(), "{p:?}");
        // The blocks placed in the pool and still allocated at the end are exactly what the
        // dump says the pool's segments hold.
        let allocated: u64 = d
            .replay
            .allocations
            .iter()
            .enumerate()
            .filter(|(i, a)| a.free_requested == NONE && pools.of_allocation(*i) == k as u16)
            .map(|(_, a)| a.size)
            .sum();
        assert_eq!(
            allocated,
            t["allocated"].as_u64().unwrap(),
            "pool {:?}",
            p.id
        );
    }
}

/// An OOM in the default pool while a CUDA graph's private pool holds 2 GiB it freed inside
/// the capture (tests/data/recorded/graph_pool_oom, an H100, PyTorch 2.11;
/// scripts/record_graph_oom.py). The counters alone say 2.04 GiB was free for a 1.5 GiB
/// request; PyTorch's own message says 18 MiB was, the rest being the graph's.
#[test]
fn an_oom_beside_a_graphs_free_pool_leaves_that_pool_out_of_the_verdict() {
    const OOM: &str = "recorded/graph_pool_oom";
    let path = common::require(OOM);
    let truth = common::truth(OOM).expect("the truth file of graph_pool_oom");
    let snap = read::load_path(&path, &read::LoadOptions::default()).expect("the recording reads");
    let a = analysis::analyze(&snap);
    let d = &a.devices[0];
    let [o] = d.ooms.as_slice() else {
        panic!("one OOM, got {:?}", d.ooms)
    };
    // What the private pools hold free is their reserved bytes less their allocated ones, as
    // the dump counts them (nothing is freed in them after the OOM).
    let private_free: u64 = truth["pools"]
        .as_object()
        .expect("truth: pools")
        .iter()
        .filter(|(id, _)| id.as_str() != "(0, 0)")
        .map(|(_, p)| p["reserved"].as_u64().unwrap() - p["allocated"].as_u64().unwrap())
        .sum();
    assert!(private_free > 2_000_000_000, "{private_free}");
    assert_eq!(o.free_in_private_pools, private_free);
    // What is left is what PyTorch's message calls reserved but unallocated.
    let message = truth["ooms"][0]["message"]
        .as_str()
        .expect("truth: the OOM message");
    let parsed = analysis::oom::parse_message(message);
    let said = parsed
        .reserved_unallocated
        .expect("the message gives reserved-but-unallocated memory");
    // The message's "allocated in private pools" is those pools' whole reservation.
    let private_reserved: u64 = truth["pools"]
        .as_object()
        .expect("truth: pools")
        .iter()
        .filter(|(id, _)| id.as_str() != "(0, 0)")
        .map(|(_, p)| p["reserved"].as_u64().unwrap())
        .sum();
    let in_message = parsed
        .private_pools
        .expect("the message names private pools");
    assert!(
        in_message.abs_diff(private_reserved) < 1 << 24,
        "{in_message} in private pools by the message, {private_reserved} by the dump"
    );
    let usable = o.free_in_reserved - o.free_in_private_pools;
    assert!(
        usable.abs_diff(said) < 1 << 20,
        "{usable} outside the private pools, PyTorch said {said}"
    );
    assert!(usable < o.block_size && o.free_in_reserved > o.block_size);
    assert_eq!(o.verdict, analysis::Verdict::Capacity);
    assert!(o.largest_usable_block < o.block_size && o.largest_free_block > o.block_size);
    // Device-wide, a fifth of the reserved memory looked stranded at the reserved peak; in
    // the default pool it was a fresh segment waiting for its tensor, not fragmentation.
    let (share, _) = d.fragmentation.stranded_share_at_peak().expect("a peak");
    assert!(share > 0.15, "{share}");
    let list = analysis::findings::findings(d, snap.format.variant);
    assert!(
        !list
            .iter()
            .any(|f| matches!(f, analysis::findings::Finding::Fragmented { .. })),
        "{list:?}"
    );
    let advice = memsight::output::words::oom_advice(d, o);
    assert!(
        advice.contains("CUDA graph's private pool")
            && advice.contains("is reserved but unallocated, less than"),
        "{advice}"
    );
}
