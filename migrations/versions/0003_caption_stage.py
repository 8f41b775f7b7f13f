"""caption stage: annotation bookkeeping, panel modality evidence, citances tied to panels

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 07:58:54.661527
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('citance_subfigures',
    sa.Column('citance_id', sa.BigInteger(), nullable=False),
    sa.Column('subfigure_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['citance_id'], ['citances.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subfigure_id'], ['subfigures.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('citance_id', 'subfigure_id')
    )
    op.create_index(op.f('ix_citance_subfigures_subfigure_id'), 'citance_subfigures', ['subfigure_id'], unique=False)
    op.add_column('figures', sa.Column('annotated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('figures', sa.Column('annotation_error', sa.Text(), nullable=True))
    op.add_column('figures', sa.Column('modalities', postgresql.ARRAY(sa.String(length=80)), server_default='{}', nullable=False))
    op.add_column('figures', sa.Column('modality_evidence', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.add_column('subfigures', sa.Column('modality_evidence', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    # figures stored before the caption stage existed: their modality set is their one modality
    op.execute("UPDATE figures SET modalities = ARRAY[m.code] FROM modalities m WHERE m.id = figures.modality_id")


def downgrade() -> None:
    op.drop_column('subfigures', 'modality_evidence')
    op.drop_column('figures', 'modality_evidence')
    op.drop_column('figures', 'modalities')
    op.drop_column('figures', 'annotation_error')
    op.drop_column('figures', 'annotated_at')
    op.drop_index(op.f('ix_citance_subfigures_subfigure_id'), table_name='citance_subfigures')
    op.drop_table('citance_subfigures')
