//! Hand-written SQL that must run on both backends (upserts, claims). Placeholders are
//! written `$1, $2, …` and rewritten to SQLite's numbered `?1, ?2, …`.
use crate::Db;
use crate::db::Backend;
use sea_orm::{Statement, Value};

pub fn stmt(db: &Db, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match db.backend {
        Backend::Postgres => sql.to_string(),
        Backend::Sqlite => to_sqlite_placeholders(sql),
    };
    Statement::from_sql_and_values(db.db_backend(), sql, values)
}

fn to_sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_numbered_question_marks() {
        assert_eq!(
            super::to_sqlite_placeholders("a = $1 AND b = $12"),
            "a = ?1 AND b = ?12"
        );
    }
}
