{{
    config(
        materialized='incremental',
        unique_key='payment_date',
        incremental_strategy='merge',
        tags=['finance']
    )
}}

select
    created_at as payment_date,
    count(*) as payments,
    sum(amount_cents) as amount_cents
from {{ ref('stg_payments') }}
{% if is_incremental() %}
-- only days at or after the newest day already built: that day may have grown
where created_at >= (select max(payment_date) from {{ this }})
{% endif %}
group by created_at
