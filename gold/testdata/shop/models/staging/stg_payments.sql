{#- amounts arrive in dollars; cents keep the marts exact -#}
select
    id as payment_id,
    order_id,
    payment_method,
    amount,
    {{ to_cents('amount') }} as amount_cents,
    created_at
from {{ ref('raw_payments') }}
