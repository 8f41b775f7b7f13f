"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 04:49:41.308329
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # trigram indexes on captions and concept names (autocomplete, fuzzy search)
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('articles',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('article_key', sa.String(length=200), nullable=False),
    sa.Column('pmcid', sa.String(length=20), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('pmid', sa.String(length=20), nullable=True),
    sa.Column('doi', sa.String(length=300), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('journal', sa.String(length=500), nullable=True),
    sa.Column('year', sa.SmallInteger(), nullable=True),
    sa.Column('article_type', sa.String(length=100), nullable=True),
    sa.Column('license_code', sa.String(length=40), nullable=True),
    sa.Column('license_url', sa.Text(), nullable=True),
    sa.Column('retracted', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('is_manuscript', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.Text(), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('xml_sha256', sa.String(length=64), nullable=False),
    sa.Column('xml_blob_key', sa.String(length=200), nullable=True),
    sa.Column('pdf_blob_key', sa.String(length=200), nullable=True),
    sa.Column('file_hashes', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('warnings', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('article_key')
    )
    op.create_index(op.f('ix_articles_doi'), 'articles', ['doi'], unique=False)
    op.create_index(op.f('ix_articles_journal'), 'articles', ['journal'], unique=False)
    op.create_index(op.f('ix_articles_license_code'), 'articles', ['license_code'], unique=False)
    op.create_index(op.f('ix_articles_pmcid'), 'articles', ['pmcid'], unique=False)
    op.create_index(op.f('ix_articles_pmid'), 'articles', ['pmid'], unique=False)
    op.create_index(op.f('ix_articles_year'), 'articles', ['year'], unique=False)
    op.create_table('concepts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('vocab', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('semantic_types', postgresql.ARRAY(sa.String(length=16)), server_default='{}', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('vocab', 'code')
    )
    op.create_index('ix_concepts_name_trgm', 'concepts', ['name'], unique=False, postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.create_table('harvest_runs',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='running', nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('modalities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('cui', sa.String(length=20), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['modalities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('citances',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('article_id', sa.BigInteger(), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('section', sa.Text(), nullable=True),
    sa.Column('panels', postgresql.ARRAY(sa.String(length=16)), server_default='{}', nullable=False),
    sa.Column('xref_texts', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('text_tsv', postgresql.TSVECTOR(), sa.Computed("to_tsvector('english', text)", persisted=True), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_citances_article_id'), 'citances', ['article_id'], unique=False)
    op.create_index('ix_citances_text_tsv', 'citances', ['text_tsv'], unique=False, postgresql_using='gin')
    op.create_table('figures',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('article_id', sa.BigInteger(), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('jats_id', sa.String(length=200), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('caption_title', sa.Text(), nullable=True),
    sa.Column('caption_text', sa.Text(), server_default='', nullable=False),
    sa.Column('caption_xml', sa.Text(), nullable=True),
    sa.Column('context', sa.String(length=20), server_default='body', nullable=False),
    sa.Column('parent_id', sa.BigInteger(), nullable=True),
    sa.Column('graphic_href', sa.Text(), nullable=True),
    sa.Column('graphics', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('source', sa.String(length=8), server_default='xml', nullable=False),
    sa.Column('image_key', sa.String(length=200), nullable=True),
    sa.Column('image_format', sa.String(length=10), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('phash', sa.String(length=32), nullable=True),
    sa.Column('image_error', sa.Text(), nullable=True),
    sa.Column('is_compound', sa.Boolean(), nullable=True),
    sa.Column('n_panels', sa.SmallInteger(), nullable=True),
    sa.Column('modality_id', sa.Integer(), nullable=True),
    sa.Column('modality_score', sa.Float(), nullable=True),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('caption_tsv', postgresql.TSVECTOR(), sa.Computed("setweight(to_tsvector('english', coalesce(caption_title, '')), 'A') || setweight(to_tsvector('english', coalesce(caption_text, '')), 'B')", persisted=True), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['modality_id'], ['modalities.id'], ),
    sa.ForeignKeyConstraint(['parent_id'], ['figures.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_figures_article_id'), 'figures', ['article_id'], unique=False)
    op.create_index('ix_figures_caption_trgm', 'figures', ['caption_text'], unique=False, postgresql_using='gin', postgresql_ops={'caption_text': 'gin_trgm_ops'})
    op.create_index('ix_figures_caption_tsv', 'figures', ['caption_tsv'], unique=False, postgresql_using='gin')
    op.create_index(op.f('ix_figures_modality_id'), 'figures', ['modality_id'], unique=False)
    op.create_index(op.f('ix_figures_parent_id'), 'figures', ['parent_id'], unique=False)
    op.create_index('ix_figures_phash', 'figures', ['phash'], unique=False)
    op.create_index('ix_figures_sha256', 'figures', ['sha256'], unique=False)
    op.create_table('harvest_items',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('item', sa.Text(), nullable=False),
    sa.Column('article_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=True),
    sa.Column('n_figures', sa.Integer(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['harvest_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_harvest_items_run_status', 'harvest_items', ['run_id', 'status'], unique=False)
    op.create_table('citance_figures',
    sa.Column('citance_id', sa.BigInteger(), nullable=False),
    sa.Column('figure_id', sa.BigInteger(), nullable=False),
    sa.Column('panels', postgresql.ARRAY(sa.String(length=16)), server_default='{}', nullable=False),
    sa.ForeignKeyConstraint(['citance_id'], ['citances.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['figure_id'], ['figures.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('citance_id', 'figure_id')
    )
    op.create_index(op.f('ix_citance_figures_figure_id'), 'citance_figures', ['figure_id'], unique=False)
    op.create_table('subfigures',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('figure_id', sa.BigInteger(), nullable=False),
    sa.Column('ordinal', sa.SmallInteger(), nullable=False),
    sa.Column('x1', sa.Integer(), nullable=False),
    sa.Column('y1', sa.Integer(), nullable=False),
    sa.Column('x2', sa.Integer(), nullable=False),
    sa.Column('y2', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('method', sa.String(length=20), nullable=True),
    sa.Column('label', sa.String(length=16), nullable=True),
    sa.Column('label_box', postgresql.ARRAY(sa.Integer()), nullable=True),
    sa.Column('label_score', sa.Float(), nullable=True),
    sa.Column('image_key', sa.String(length=200), nullable=True),
    sa.Column('modality_id', sa.Integer(), nullable=True),
    sa.Column('modality_score', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['figure_id'], ['figures.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['modality_id'], ['modalities.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_subfigures_figure_id'), 'subfigures', ['figure_id'], unique=False)
    op.create_index(op.f('ix_subfigures_modality_id'), 'subfigures', ['modality_id'], unique=False)
    op.create_table('subcaptions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('figure_id', sa.BigInteger(), nullable=False),
    sa.Column('subfigure_id', sa.BigInteger(), nullable=True),
    sa.Column('ordinal', sa.SmallInteger(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('full_text', sa.Text(), nullable=False),
    sa.Column('flag', sa.String(length=40), nullable=True),
    sa.Column('text_tsv', postgresql.TSVECTOR(), sa.Computed("to_tsvector('english', full_text)", persisted=True), nullable=True),
    sa.ForeignKeyConstraint(['figure_id'], ['figures.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subfigure_id'], ['subfigures.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_subcaptions_figure_id'), 'subcaptions', ['figure_id'], unique=False)
    op.create_index(op.f('ix_subcaptions_subfigure_id'), 'subcaptions', ['subfigure_id'], unique=False)
    op.create_index('ix_subcaptions_tsv', 'subcaptions', ['text_tsv'], unique=False, postgresql_using='gin')
    op.create_table('concept_mentions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('concept_id', sa.BigInteger(), nullable=False),
    sa.Column('figure_id', sa.BigInteger(), nullable=False),
    sa.Column('subfigure_id', sa.BigInteger(), nullable=True),
    sa.Column('subcaption_id', sa.BigInteger(), nullable=True),
    sa.Column('citance_id', sa.BigInteger(), nullable=True),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['citance_id'], ['citances.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['concept_id'], ['concepts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['figure_id'], ['figures.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subcaption_id'], ['subcaptions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subfigure_id'], ['subfigures.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_concept_mentions_citance_id'), 'concept_mentions', ['citance_id'], unique=False)
    op.create_index(op.f('ix_concept_mentions_concept_id'), 'concept_mentions', ['concept_id'], unique=False)
    op.create_index(op.f('ix_concept_mentions_figure_id'), 'concept_mentions', ['figure_id'], unique=False)
    op.create_index(op.f('ix_concept_mentions_subfigure_id'), 'concept_mentions', ['subfigure_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_concept_mentions_subfigure_id'), table_name='concept_mentions')
    op.drop_index(op.f('ix_concept_mentions_figure_id'), table_name='concept_mentions')
    op.drop_index(op.f('ix_concept_mentions_concept_id'), table_name='concept_mentions')
    op.drop_index(op.f('ix_concept_mentions_citance_id'), table_name='concept_mentions')
    op.drop_table('concept_mentions')
    op.drop_index('ix_subcaptions_tsv', table_name='subcaptions', postgresql_using='gin')
    op.drop_index(op.f('ix_subcaptions_subfigure_id'), table_name='subcaptions')
    op.drop_index(op.f('ix_subcaptions_figure_id'), table_name='subcaptions')
    op.drop_table('subcaptions')
    op.drop_index(op.f('ix_subfigures_modality_id'), table_name='subfigures')
    op.drop_index(op.f('ix_subfigures_figure_id'), table_name='subfigures')
    op.drop_table('subfigures')
    op.drop_index(op.f('ix_citance_figures_figure_id'), table_name='citance_figures')
    op.drop_table('citance_figures')
    op.drop_index('ix_harvest_items_run_status', table_name='harvest_items')
    op.drop_table('harvest_items')
    op.drop_index('ix_figures_sha256', table_name='figures')
    op.drop_index('ix_figures_phash', table_name='figures')
    op.drop_index(op.f('ix_figures_parent_id'), table_name='figures')
    op.drop_index(op.f('ix_figures_modality_id'), table_name='figures')
    op.drop_index('ix_figures_caption_tsv', table_name='figures', postgresql_using='gin')
    op.drop_index('ix_figures_caption_trgm', table_name='figures', postgresql_using='gin', postgresql_ops={'caption_text': 'gin_trgm_ops'})
    op.drop_index(op.f('ix_figures_article_id'), table_name='figures')
    op.drop_table('figures')
    op.drop_index('ix_citances_text_tsv', table_name='citances', postgresql_using='gin')
    op.drop_index(op.f('ix_citances_article_id'), table_name='citances')
    op.drop_table('citances')
    op.drop_table('modalities')
    op.drop_table('harvest_runs')
    op.drop_index('ix_concepts_name_trgm', table_name='concepts', postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.drop_table('concepts')
    op.drop_index(op.f('ix_articles_year'), table_name='articles')
    op.drop_index(op.f('ix_articles_pmid'), table_name='articles')
    op.drop_index(op.f('ix_articles_pmcid'), table_name='articles')
    op.drop_index(op.f('ix_articles_license_code'), table_name='articles')
    op.drop_index(op.f('ix_articles_journal'), table_name='articles')
    op.drop_index(op.f('ix_articles_doi'), table_name='articles')
    op.drop_table('articles')
