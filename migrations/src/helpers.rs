//! Statement builders shared by the migrations. They only shorten statements; a change here
//! must keep every statement they build identical, since applied migrations never change.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::uuid;

/// A UUID primary key.
pub fn pk(name: &'static str) -> ColumnDef {
    uuid(name).primary_key().take()
}

/// A foreign key to `to_table.id`, named `fk_<table>_<column>`, refusing deletes.
pub fn fk(
    from_table: &'static str,
    from_col: &'static str,
    to_table: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(from_table, from_col)
        .to(to_table, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

/// An index named `ux_`/`ix_` + table + columns.
pub fn index(table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(format!(
        "{}_{}_{}",
        if unique { "ux" } else { "ix" },
        table,
        cols.join("_")
    ))
    .table(table);
    for col in cols {
        stmt.col(*col);
    }
    if unique {
        stmt.unique();
    }
    stmt.take()
}
