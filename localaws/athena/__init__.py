"""moto's Athena, made to run SQL for real: DuckDB for SELECT, moto's Glue for partition DDL.

backend   the five moto methods replaced (`install`), the query execution and its responses
engine    runs one statement: SELECT/WITH on DuckDB, partition DDL on Glue
sql       Trino SELECT -> DuckDB (parameters, table references, partition predicates, output names)
ddl       the Hive partition DDL (ALTER TABLE ADD/DROP PARTITION, SHOW PARTITIONS) on moto's Glue
catalog   Glue tables and partitions, S3 objects staged for DuckDB (each checked as Athena's SerDe reads it: a
          corrupt one FAILS the query with HIVE_CURSOR_ERROR/HIVE_BAD_DATA, deterministically), the DuckDB views
          with the hidden `"$path"` column (objects a `"$path"` conjunct excludes are never opened)
hive      Glue (Hive) column types -> DuckDB; CloudTrail's JSON key spellings
results   query results in Athena's shapes (CSV file, GetQueryResults rows, ColumnInfo)
"""

from localaws.athena.backend import install

__all__ = ["install"]
