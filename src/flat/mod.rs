//! Partner-declared flat files (CSV and fixed width) turned into canonical records.
//!
//! A partner's config embeds `[[flat]]` layouts ([`FlatLayoutConfig`]); each is validated once
//! into a [`FlatLayout`], which lists every accepted target path in its module documentation.
//! [`parse_flat`] then streams a file through the layout, yielding records and located row
//! errors in file order; a bad row never stops the good ones.

mod csv;
pub mod detect;
mod fixed;
pub mod layout;
pub mod map;
pub mod parse;

pub use detect::{Fit, best_layouts, layout_fit};
pub use layout::{
    BadRowPolicy, ColumnConfig, CsvConfig, FixedConfig, FlatEncoding, FlatFormat, FlatKind,
    FlatLayout, FlatLayoutConfig, LayoutProblem, RecordTypeConfig, SourceConfig,
};
pub use map::{FlatItem, FlatSource, FlatSummary, RowError, RowErrorCode};
pub use parse::{FlatFileError, FlatOutput, parse_flat, parse_flat_all};
