//! A prepared statement whose text parameters SQLite reads where they lie. rusqlite binds
//! every string `SQLITE_TRANSIENT`, so SQLite allocates and copies each one before the row
//! is built; for span rows (before spans were stored in chunks), a dozen strings each, that
//! was a tenth of the writer thread's time. It serves the log inserts. Here strings are bound `SQLITE_STATIC`, which is sound
//! because [`InPlace::execute`] binds, steps, resets and clears the bindings in one call:
//! SQLite never holds a pointer past the borrow of the values.

use super::StoreResult;
use rusqlite::{ffi, Connection};
use std::ffi::{c_char, c_int};
use std::marker::PhantomData;

/// One parameter value, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// A statement prepared on `conn`, finalized on drop.
pub struct InPlace<'c> {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> InPlace<'c> {
    pub fn prepare(conn: &'c Connection, sql: &str) -> StoreResult<Self> {
        // SAFETY: the handle stays valid while `conn` is borrowed, which outlives `Self`.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| failure(ffi::SQLITE_TOOBIG, None))?;
        // SAFETY: `sql` is valid for `len` bytes; `stmt` receives the statement or null.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast::<c_char>(),
                len,
                0,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK || stmt.is_null() {
            return Err(error(db, rc));
        }
        Ok(Self {
            db,
            stmt,
            _conn: PhantomData,
        })
    }

    /// Binds `params` to ?1, ?2, …, runs the statement to completion and resets it; returns
    /// the rows it inserted, changed or deleted (0 for an insert that was ignored).
    pub fn execute(&mut self, params: &[Param<'_>]) -> StoreResult<u64> {
        let result = self.bind(params).and_then(|()| {
            // SAFETY: `stmt` is a live statement of `db`.
            match unsafe { ffi::sqlite3_step(self.stmt) } {
                // SAFETY: `db` is live; the count is of the statement that just completed.
                ffi::SQLITE_DONE | ffi::SQLITE_ROW => Ok(unsafe { ffi::sqlite3_changes(self.db) }.max(0) as u64),
                rc => Err(error(self.db, rc)),
            }
        });
        // SAFETY: as above. After these two calls SQLite keeps no pointer into `params`.
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
        result
    }

    fn bind(&mut self, params: &[Param<'_>]) -> StoreResult<()> {
        for (i, p) in params.iter().enumerate() {
            let col = i as c_int + 1;
            // SAFETY: `stmt` is live; text pointers stay valid until `execute` clears the
            // bindings, before `params` goes out of scope.
            let rc = unsafe {
                match *p {
                    Param::Null => ffi::sqlite3_bind_null(self.stmt, col),
                    Param::Int(v) => ffi::sqlite3_bind_int64(self.stmt, col, v),
                    Param::Real(v) => ffi::sqlite3_bind_double(self.stmt, col, v),
                    Param::Text(s) => {
                        let len = c_int::try_from(s.len()).map_err(|_| failure(ffi::SQLITE_TOOBIG, None))?;
                        ffi::sqlite3_bind_text(self.stmt, col, s.as_ptr().cast::<c_char>(), len, ffi::SQLITE_STATIC())
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(self.db, rc));
            }
        }
        Ok(())
    }
}

impl Drop for InPlace<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` was prepared by `prepare` and is finalized once.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
        }
    }
}

fn failure(code: c_int, message: Option<String>) -> super::StoreError {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message).into()
}

/// The error SQLite reports for `rc`, with its message.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> super::StoreError {
    // SAFETY: `db` is live; the message is copied before any other call on it.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| std::ffi::CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    failure(rc, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_every_kind_and_reports_constraint_errors_by_name() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT NOT NULL UNIQUE, b INTEGER, c REAL, d TEXT)")
            .unwrap();
        let mut insert = InPlace::prepare(&conn, "INSERT INTO t (a, b, c, d) VALUES (?1, ?2, ?3, ?4)").unwrap();
        for (a, b) in [("x", 1i64), ("y", 2)] {
            let owned = format!("{a}-text");
            insert
                .execute(&[a.into(), b.into(), 0.5.into(), Some(&owned).into()])
                .unwrap();
        }
        insert
            .execute(&["z".into(), Param::Null, Param::Null, None::<&str>.into()])
            .unwrap();
        let err = insert
            .execute(&["x".into(), 3i64.into(), Param::Null, Param::Null])
            .unwrap_err();
        assert!(err.to_string().contains("UNIQUE constraint failed: t.a"), "{err}");
        let err = insert
            .execute(&[Param::Null, Param::Null, Param::Null, Param::Null])
            .unwrap_err();
        assert!(err.to_string().contains("NOT NULL constraint failed: t.a"), "{err}");
        drop(insert);
        type Row = (String, Option<i64>, Option<f64>, Option<String>);
        let rows: Vec<Row> = conn
            .prepare("SELECT a, b, c, d FROM t ORDER BY a")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("x".into(), Some(1), Some(0.5), Some("x-text".into())),
                ("y".into(), Some(2), Some(0.5), Some("y-text".into())),
                ("z".into(), None, None, None),
            ]
        );
    }
}
