//! Many snapshots at once: the ranks of one distributed job side by side.
//!
//! Each file is reduced to a [`FileSummary`] (`summary`), in parallel and with bounded memory
//! (`load`), or read back from a `memsight summarize` file; the summaries are then reduced to
//! a [`Job`] (`reduce`): per-rank figures, the median rank, the outliers with the call sites
//! that make their difference, leaks by the ranks they occur on, the first OOM. The rank of a
//! file comes from its name (`name`).
//!
//! A layer beside `whatif`: it reads files (`read`) and analyses them (`analysis`), and
//! hands numbers to `output::ranks` and to the app. What a view needs per rank is in
//! [`Rank::summary`]: the figures, the memory series ([`MemorySeries`], aligned across ranks
//! as [`Job::alignment`] says) and the site tables.

pub mod load;
pub mod name;
pub mod reduce;
pub mod summary;

pub use load::{default_jobs, expand, summarize_all, summarize_path, FileError, InputError};
pub use name::rank_from_name;
pub use reduce::{
    reduce, threshold, Alignment, FirstOom, Job, Median, MedianOf, Metric, Outlier, Rank,
    RankSource, SharedLeak, SiteExcess,
};
pub use summary::{
    summarize, FileSummary, MemorySeries, RankSummary, SeriesAxis, SeriesPoint, SiteTable,
    SummaryError, FORMAT,
};
