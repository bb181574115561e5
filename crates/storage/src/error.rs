//! The storage layer's one error type.
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("{0}")]
    Crypto(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("data: {0}")]
    Data(String),
}

impl StorageError {
    /// True when the error is a unique-constraint violation (someone else got there first).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StorageError::Db(e) => is_unique_violation(e),
            _ => false,
        }
    }
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
