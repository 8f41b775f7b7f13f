"""one identity rule (PMCID, PMID, DOI, content hash), publication dates, run outcomes and their processes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 19:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column('articles', 'article_key', type_=sa.String(length=320), existing_nullable=False)
    op.add_column('articles', sa.Column('pub_date', sa.Date(), nullable=True))
    # harvester.identity: a PMID now comes before the DOI. Articles stored under a DOI or a content hash
    # that have a PMID (and no PMCID) take its key, unless another article holds it already.
    op.execute("""
        UPDATE articles a SET article_key = 'pmid:' || a.pmid
        WHERE a.pmcid IS NULL AND a.pmid ~ '^[1-9][0-9]{0,9}$'
          AND (a.article_key LIKE 'doi:%' OR a.article_key LIKE 'sha256:%')
          AND NOT EXISTS (SELECT 1 FROM articles b WHERE b.article_key = 'pmid:' || a.pmid)
          AND a.id = (SELECT min(c.id) FROM articles c WHERE c.pmid = a.pmid AND c.pmcid IS NULL)
    """)
    for name in ('partial', 'replaced', 'conflict'):
        op.add_column('harvest_runs', sa.Column(name, sa.Integer(), server_default='0', nullable=False))
    op.add_column('harvest_runs', sa.Column('host', sa.String(length=255), nullable=True))
    op.add_column('harvest_runs', sa.Column('pid', sa.Integer(), nullable=True))
    op.add_column('harvest_runs', sa.Column('workdir', sa.Text(), nullable=True))
    op.add_column('harvest_items', sa.Column('article_key', sa.String(length=320), nullable=True))
    op.add_column('harvest_items', sa.Column('origin', sa.Text(), nullable=True))
    op.add_column('harvest_items', sa.Column('other_origin', sa.Text(), nullable=True))


def downgrade() -> None:
    for name in ('other_origin', 'origin', 'article_key'):
        op.drop_column('harvest_items', name)
    for name in ('workdir', 'pid', 'host', 'conflict', 'replaced', 'partial'):
        op.drop_column('harvest_runs', name)
    op.drop_column('articles', 'pub_date')
    op.alter_column('articles', 'article_key', type_=sa.String(length=200), existing_nullable=False)
