"""one row per panel: unique (figure_id, ordinal) on subfigures

Two detection runs racing on one figure (two `figmine ingest` started together) could both store its
panels. Duplicates already stored are removed first: the lowest id of each (figure_id, ordinal)
stays, and the subcaptions, panel citances and concept mentions that pointed at a removed copy are
moved to the one kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# every duplicate panel → the copy that stays (the lowest id of its figure and ordinal)
_DUPLICATES = """
    CREATE TEMPORARY TABLE panel_duplicates AS
    SELECT id AS dup_id, keep_id FROM (
        SELECT id, min(id) OVER (PARTITION BY figure_id, ordinal) AS keep_id FROM subfigures
    ) ranked WHERE id <> keep_id
"""


def upgrade() -> None:
    op.execute(_DUPLICATES)
    op.execute("UPDATE subcaptions s SET subfigure_id = d.keep_id FROM panel_duplicates d "
               "WHERE s.subfigure_id = d.dup_id")
    op.execute("UPDATE concept_mentions m SET subfigure_id = d.keep_id FROM panel_duplicates d "
               "WHERE m.subfigure_id = d.dup_id")
    op.execute("INSERT INTO citance_subfigures (citance_id, subfigure_id) "
               "SELECT c.citance_id, d.keep_id FROM citance_subfigures c "
               "JOIN panel_duplicates d ON c.subfigure_id = d.dup_id ON CONFLICT DO NOTHING")
    op.execute("DELETE FROM subfigures WHERE id IN (SELECT dup_id FROM panel_duplicates)")
    op.execute("DROP TABLE panel_duplicates")
    op.create_unique_constraint('uq_subfigures_figure_ordinal', 'subfigures', ['figure_id', 'ordinal'])


def downgrade() -> None:
    op.drop_constraint('uq_subfigures_figure_ordinal', 'subfigures', type_='unique')
