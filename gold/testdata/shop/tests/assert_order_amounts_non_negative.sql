-- An order's payments never add up to less than zero.
select order_id, amount
from {{ ref('orders') }}
where amount < 0
