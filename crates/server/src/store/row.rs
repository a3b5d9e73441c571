//! Reading columns out of a row without trusting them: each getter names `table.column` in the
//! [`StoreError::Corrupt`] it returns when the value has the wrong type or fails to parse.

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::StoreError;

/// Longest stored value quoted in an error message.
const MAX_QUOTED: usize = 64;

/// One row of `table`.
pub(super) struct Cols<'r> {
    row: &'r AnyRow,
    table: &'static str,
}

impl<'r> Cols<'r> {
    pub(super) fn new(row: &'r AnyRow, table: &'static str) -> Self {
        Cols { row, table }
    }

    fn corrupt(&self, column: &str, what: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{}.{column} {what}", self.table))
    }

    fn decode<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: for<'a> sqlx::Decode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.row.try_get::<T, _>(column).map_err(|e| match e {
            sqlx::Error::ColumnDecode { source, .. } => {
                self.corrupt(column, format_args!("has the wrong type ({source})"))
            }
            other => StoreError::Database(other),
        })
    }

    /// A `TEXT NOT NULL` column.
    pub(super) fn text(&self, column: &str) -> Result<String, StoreError> {
        self.decode::<Option<String>>(column)?
            .ok_or_else(|| self.corrupt(column, "is NULL"))
    }

    /// A nullable `TEXT` column.
    pub(super) fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.decode::<Option<String>>(column)
    }

    /// A `BIGINT NOT NULL` time in UNIX milliseconds.
    pub(super) fn ms(&self, column: &str) -> Result<u64, StoreError> {
        self.opt_ms(column)?
            .ok_or_else(|| self.corrupt(column, "is NULL"))
    }

    /// A nullable `BIGINT` time in UNIX milliseconds.
    pub(super) fn opt_ms(&self, column: &str) -> Result<Option<u64>, StoreError> {
        match self.decode::<Option<i64>>(column)? {
            None => Ok(None),
            Some(v) => u64::try_from(v)
                .map(Some)
                .map_err(|_| self.corrupt(column, format_args!("holds {v}, a negative time"))),
        }
    }

    /// A `TEXT NOT NULL` column parsed with `parse` (which returns `None` for invalid text).
    pub(super) fn parsed<T>(
        &self,
        column: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let text = self.text(column)?;
        parse(&text).ok_or_else(|| self.invalid(column, what, &text))
    }

    /// A nullable `TEXT` column parsed with `parse`.
    pub(super) fn opt_parsed<T>(
        &self,
        column: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        match self.opt_text(column)? {
            None => Ok(None),
            Some(text) => parse(&text)
                .map(Some)
                .ok_or_else(|| self.invalid(column, what, &text)),
        }
    }

    /// A `TEXT NOT NULL` column holding a type with a validating `FromStr` (ids, names).
    pub(super) fn valid<T: FromStr>(&self, column: &str, what: &str) -> Result<T, StoreError> {
        self.parsed(column, what, |s| s.parse().ok())
    }

    /// A nullable `TEXT` column holding a type with a validating `FromStr`.
    pub(super) fn opt_valid<T: FromStr>(
        &self,
        column: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        self.opt_parsed(column, what, |s| s.parse().ok())
    }

    fn invalid(&self, column: &str, what: &str, text: &str) -> StoreError {
        let quoted: String = text.chars().take(MAX_QUOTED).collect();
        let more = if quoted.len() < text.len() { "..." } else { "" };
        self.corrupt(
            column,
            format_args!("holds {quoted:?}{more}, which is not a valid {what}"),
        )
    }
}
