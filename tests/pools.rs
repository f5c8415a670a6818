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
