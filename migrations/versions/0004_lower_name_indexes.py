"""indexes for the case-insensitive journal and concept-name filters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 08:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_articles_journal_lower', 'articles', [sa.text('lower(journal)')], unique=False)
    op.create_index('ix_concepts_name_lower', 'concepts', [sa.text('lower(name)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_concepts_name_lower', table_name='concepts')
    op.drop_index('ix_articles_journal_lower', table_name='articles')
